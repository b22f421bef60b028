"""The one registry of pretrained components: what to load, from where, at which commit,
and clear errors.

Split by what each part does:

- [registry][multisc.models.registry]: the components and their recorded manifests (files,
  weights, configs, pinned commit, digests, the page of each fact);
- ``weights``: weights files, whole or not, read without running code
  (safetensors; ``torch.save`` zip archives and legacy pickles);
- [local][multisc.models.local]: what is on this machine (HF cache snapshots, torch hub
  cache, ``--models DIR``);
- [downloads][multisc.models.downloads]: ``pull`` at the pinned commit, reachability through
  proxies, the errors a real Hub gives;
- [loading][multisc.models.loading]: resolve, load offline, dtypes;
- [provenance][multisc.models.provenance]: what a run loaded, ``doctor --verify``, ``export``.

Loading follows the usual Hugging Face conventions: the HF cache, ``HF_HUB_OFFLINE=1`` (or
``TRANSFORMERS_OFFLINE=1``), ``HF_ENDPOINT`` and ``local_files_only``. A ``models_dir``
(``--models DIR``) overrides every id with ``DIR/<component name>``, the layout
``multisc models make-tiny`` and ``multisc models export`` write. Pickled weights are only
ever read with ``torch.load(weights_only=True)``.

Weights that are neither local nor fetchable raise ``ModelNotAvailableError``; a
truncated or corrupt weights file, or a repository that lacks a needed file, raise
``ModelFileError`` naming the component, the file and what to do.
"""

from multisc.models.downloads import (
    download_error,
    download_sizes,
    fetchable,
    fetchable_url,
    hub_endpoint,
    hub_reachable,
    offline,
    offline_variable,
    pull,
    pull_many,
    url_reachable,
)
from multisc.models.loading import (
    component_dtype,
    default_dtype,
    load_model_and_processor,
    load_pretrained,
    resolve,
    torch_hub_state,
)
from multisc.models.local import (
    FileStatus,
    cache_dir,
    file_problems,
    file_status,
    is_available,
    local_snapshot,
    snapshot_of,
    torch_hub_checkpoint,
    torch_hub_file,
)
from multisc.models.provenance import (
    component_files,
    component_record,
    component_records,
    export,
    is_stand_in,
    pinned_problem,
    verify,
)
from multisc.models.registry import (
    REGISTRY,
    TORCH_MODELS_URL,
    ModelEntry,
    entry,
    file_error,
    is_commit,
    manifest,
    missing_error,
    source,
)
from multisc.models.weights import (
    check_directory,
    is_legacy_pickle,
    load_state_file,
    weights_problem,
)

__all__ = [
    "REGISTRY",
    "TORCH_MODELS_URL",
    "FileStatus",
    "ModelEntry",
    "cache_dir",
    "check_directory",
    "component_dtype",
    "component_files",
    "component_record",
    "component_records",
    "default_dtype",
    "download_error",
    "download_sizes",
    "entry",
    "export",
    "fetchable",
    "fetchable_url",
    "file_error",
    "file_problems",
    "file_status",
    "hub_endpoint",
    "hub_reachable",
    "is_available",
    "is_commit",
    "is_legacy_pickle",
    "is_stand_in",
    "load_model_and_processor",
    "load_pretrained",
    "load_state_file",
    "local_snapshot",
    "manifest",
    "missing_error",
    "offline",
    "offline_variable",
    "pinned_problem",
    "pull",
    "pull_many",
    "resolve",
    "snapshot_of",
    "source",
    "torch_hub_checkpoint",
    "torch_hub_file",
    "torch_hub_state",
    "url_reachable",
    "verify",
    "weights_problem",
]
