"""The API layer: pure functions over wire-format (JSON dict) objects, no I/O.

- ``resources``: the table of served kinds.
- ``schema``: Kubernetes' OpenAPI definitions; unknown fields, type errors, merge info.
- ``field_errors``: ``FieldError`` and the 422 Status message/causes.
- ``names``: name/label/key syntax, per-kind name rules, generateName.
- ``labels`` / ``fields``: label and field selectors.
- ``quantity``: exact resource quantities.
- ``defaults`` / ``validation``: per-kind defaulting and validation.
"""
