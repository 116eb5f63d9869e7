"""Build step: the engine's compiled selection kernel, and the top-level parts in the wheel.

The wheel carries the top-level ``config.py`` and ``migrations/`` in the package. Both stay at
the top of the repository, where the design card names them. An installed app finds them as
``recommender/default_config.py`` and ``recommender/migrations/`` (recommender/bundled.py), so
``recommender db upgrade`` works from any folder.

``recommender.engine._select`` is a small C extension (recommender/engine/_select.c) built by
every install, editable or not; it needs a C compiler and Python's headers. It is optional:
where it cannot be built the engine runs its numpy path, which gives the same neighbours
(tests/engine/test_compiled_selection.py), only slower. Everything else about the package is
in pyproject.toml.
"""

from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithTopLevelParts(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's files in place
            return
        package = Path(self.build_lib) / "recommender"
        self.copy_file(str(ROOT / "config.py"), str(package / "default_config.py"))
        for source in sorted((ROOT / "migrations").rglob("*")):
            if source.is_file() and "__pycache__" not in source.parts:
                target = package / "migrations" / source.relative_to(ROOT / "migrations")
                self.mkpath(str(target.parent))
                self.copy_file(str(source), str(target))


SELECT_KERNEL = Extension(
    "recommender.engine._select",
    sources=["recommender/engine/_select.c"],
    extra_compile_args=["-O3"],
    optional=True,
)

setup(cmdclass={"build_py": BuildPyWithTopLevelParts}, ext_modules=[SELECT_KERNEL])
