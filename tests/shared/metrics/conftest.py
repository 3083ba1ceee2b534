"""Fixtures of the metrics tests: the real Inception network, offline."""

import socket
import urllib.request

import pytest

from shared.metrics import fid


def _no_network(*args, **kwargs):
    raise AssertionError("FID code tried to reach the network")


@pytest.fixture(scope="module")
def offline_model_dir(tmp_path_factory):
    """A fresh folder for the derived model, with every network access made to fail."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        mp.setattr(urllib.request, "urlopen", _no_network)
        mp.delenv(fid.WEIGHTS_ENV, raising=False)
        yield tmp_path_factory.mktemp("cleanfid_models")
