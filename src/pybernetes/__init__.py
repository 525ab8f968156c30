"""pybernetes: early Kubernetes rebuilt in Python on today's wire API."""

__version__ = "0.1.0"
# The Kubernetes API level we serve (kubectl compares against it).
KUBE_GIT_VERSION = "v1.32.0-pyb.0.1.0"
