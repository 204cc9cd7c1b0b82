"""The compiled kernels: C extensions built with the package (metadata is in pyproject.toml).

Each extension is one C file in ``csrc/`` (shared helpers in ``csrc/common.h``) and needs only a C
compiler and Python's headers: arrays pass through the buffer protocol, so numpy's headers are not
needed to build. ``pip install .`` and ``pip install -e .`` (``make install``) build them; after
editing a C file, ``make install`` (or ``python setup.py build_ext --inplace``) builds it again.
``-ffp-contract=off`` keeps every floating-point product and sum rounded as written (no fused
multiply-add), so the features and scores are the same on every x86-64 machine.
"""

from setuptools import Extension, setup

COMPILE = ["-O3", "-std=gnu11", "-ffp-contract=off", "-fvisibility=hidden"]
HEADERS = ["csrc/common.h"]


def kernels(package: str, source: str, headers: tuple[str, ...] = ()) -> Extension:
    return Extension(f"pipeline.{package}._kernels", [f"csrc/{source}"], depends=[*HEADERS, *headers],
                     extra_compile_args=COMPILE, extra_link_args=["-pthread"])


setup(ext_modules=[
    kernels("summarize", "summarize.c", ("csrc/summarize_article.h",)),
    kernels("topic", "ngrams.c", ("csrc/ngrams_doc.h",)),
    kernels("text", "text.c", ("csrc/text_scan.h",)),
])
