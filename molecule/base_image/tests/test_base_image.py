"""The base image contract, checked inside the running container."""


def test_debian_12(host):
    assert host.system_info.distribution == "debian"
    assert host.system_info.release.startswith("12")


def test_python3_and_sudo(host):
    assert host.exists("python3")
    assert host.package("sudo").is_installed


def test_package_from_host_apt_sources(host):
    assert host.package("jq").is_installed
    assert host.run("jq -n 1+1").stdout.strip() == "2"


def test_apt_sources_are_the_hosts(host):
    deb822 = host.file("/etc/apt/sources.list.d/debian.sources")
    sources = deb822 if deb822.exists else host.file("/etc/apt/sources.list")
    assert sources.exists
    assert "bookworm" in sources.content_string


def test_sudo_to_unprivileged_user(host):
    assert host.run("sudo -n -u labuser id -un").stdout.strip() == "labuser"
