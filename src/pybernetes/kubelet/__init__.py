"""The kubelet: registers a Node and runs the pods bound to it (see kubelet.py)."""

from .config import KubeletConfig
from .kubelet import Kubelet

__all__ = ["Kubelet", "KubeletConfig"]
