"""Run inside the deploy venv: validate JSON objects from stdin with kubernetes-validate (strict).

Usage: python k8s_validate.py KUBE_VERSION < objects.json
Prints {index: error} for every object that fails; custom resources (no bundled schema) count as errors
here, so callers pass only built-in kinds.
"""

import json
import sys

import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, VersionNotSupportedError


def main() -> None:
    version = sys.argv[1]
    errors = {}
    for i, obj in enumerate(json.load(sys.stdin)):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except ValidationError as e:
            errors[i] = (
                f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}: {e.message} at {list(e.path)}"
            )
        except (SchemaNotFoundError, VersionNotSupportedError) as e:
            errors[i] = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}: {e}"
    json.dump(errors, sys.stdout)


if __name__ == "__main__":
    main()
