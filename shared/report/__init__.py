"""Reporting: the summary table of every run (``summary``), figures (``figures``), the papers' protocol tables
(``protocol``) and the matched comparison's tables and grids (``compare``)."""
