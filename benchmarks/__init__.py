"""The reference-match benchmark: labelled claims built from the shared data sets.

Cases are generated in memory from ``../shared/data`` (never copied into the repository),
run through :func:`vericlaim.check.check_claim` and summarised in ``docs/benchmarks.md``.
Run it with ``python -m benchmarks.run --data ../shared/data --out docs/benchmarks.md``.

Modules
-------
``sources``   the data sets the cases draw from
``imaging``   small pixel helpers (encode, decode, resize, product masks)
``edits``     the edit families: crack/break textures, stains, inpainting, filters, pasting
``chains``    re-save chains and the upload chain, carrying the edit mask along
``framing``   screenshot framing and re-photographing a screen
``cases``     the labelled families, deterministic from a seed
``metrics``   flagged / routed / localized, per case and per family
``report``    the Markdown section, the stdout table and the raw JSON
``run``       the command line
"""
