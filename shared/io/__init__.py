"""Files: the one atomic writer (``atomic``), the checked readers and writers of every artifact a run leaves
(``artifacts``), and the provenance recorded in each (``provenance``)."""
