"""The test suite, a package whose folders mirror ``pipeline/`` (docs/architecture.md, "Tests").

Every folder has an ``__init__.py`` so that test modules with the same file name in different folders
(``tests/io/test_html.py`` and ``tests/reports/test_html.py``) import as distinct modules, and so that
``tests.conftest`` and ``tests.synthetic`` import the same way from every folder.
"""
