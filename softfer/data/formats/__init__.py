"""Readers for the datasets' published layouts; each returns a list of ``Record``."""

from softfer.data.formats.afew import read_afew
from softfer.data.formats.affectnet import read_affectnet, read_affwild
from softfer.data.formats.dfew import read_dfew, read_votes
from softfer.data.formats.ferv39k import read_ferv39k
from softfer.data.formats.lists import read_former_dfer_list, read_manifest

__all__ = [
    "read_afew",
    "read_affectnet",
    "read_affwild",
    "read_dfew",
    "read_ferv39k",
    "read_former_dfer_list",
    "read_manifest",
    "read_votes",
]
