"""floe-deploy's Invoke collection: one module per namespace (see `invoke --list`)."""

import sys
from pathlib import Path

from invoke.collection import Collection

# Invoke puts this folder on sys.path, where tasks/platform.py would shadow the standard library's
# `platform` module for every library the tasks import; the package import below needs no such entry.
_TASKS_DIR = str(Path(__file__).resolve().parent)
sys.path[:] = [entry for entry in sys.path if str(Path(entry or ".").resolve()) != _TASKS_DIR]

from tasks import demo, gitops, helm, images, platform, preflight, release  # noqa: E402

namespace = Collection()
namespace.add_collection(Collection.from_module(demo))
namespace.add_collection(Collection.from_module(gitops))
namespace.add_collection(Collection.from_module(helm))
namespace.add_collection(Collection.from_module(images))
namespace.add_collection(Collection.from_module(platform))
namespace.add_task(preflight.preflight)
namespace.add_task(release.build)
namespace.add_task(release.publish)
