"""The page template of :mod:`jaxbp.viz`: HTML and CSS in :mod:`.page`, JavaScript in
:mod:`.script` (Python strings, so no package-data is needed)."""
