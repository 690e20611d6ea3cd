"""floe-deploy's Invoke collection: one module per namespace (see `invoke --list`).

The `platform` namespace lives in tasks/local_platform.py: Invoke puts this folder on sys.path,
where a tasks/platform.py would shadow the standard library's `platform` module."""

from invoke.collection import Collection

from tasks import bundle, demo, docs, gitops, helm, images, local_platform, preflight, release

namespace = Collection()
namespace.add_collection(Collection.from_module(bundle))
namespace.add_collection(Collection.from_module(demo))
namespace.add_collection(Collection.from_module(docs))
namespace.add_collection(Collection.from_module(gitops))
namespace.add_collection(Collection.from_module(helm))
namespace.add_collection(Collection.from_module(images))
namespace.add_collection(Collection.from_module(local_platform, name="platform"))
namespace.add_task(preflight.preflight)
namespace.add_task(release.build)
namespace.add_task(release.publish)
