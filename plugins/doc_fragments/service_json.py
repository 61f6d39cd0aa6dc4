# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Options of the modules that read an addon's HTTP API directly or through the API server's service proxy."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the app, for example C(http://127.0.0.1:<port>) behind C(kubectl port-forward),
        or an OpenShift Route. The app is then asked directly.
      - When not given, the app's Service is asked through the API server's service proxy, with
        the API server options of P(kubernetes.core.k8s#module) (O(kubeconfig), O(context), O(host),
        O(api_key) and the others, each defaulting to its C(K8S_AUTH_*) environment variable).
        Those options and O(url) exclude each other, except O(validate_certs).
    type: str
  url_username:
    description: Basic-auth user for O(url) (for example Scope behind the lab's Route).
    type: str
  url_password:
    description: Basic-auth password for O(url).
    type: str
notes:
  - O(validate_certs) verifies the certificate of what is asked, O(url) or the API server; with
    O(url) it defaults to true.
  - The service proxy carries the API server credentials, not the app's; an app behind basic auth
    is read with O(url), O(url_username) and O(url_password).
"""
