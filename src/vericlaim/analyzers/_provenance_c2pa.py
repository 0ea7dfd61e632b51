"""What a C2PA manifest store says: AI-generation assertions, edits, validation problems.

The store is the c2pa-python reader's JSON report (see :mod:`vericlaim.evidence.c2pa`).
Offline, no signer is on a trust list, so ``signingCredential.untrusted`` (and skipped
OCSP checks) are reported as information, never as forgery. Every other failure code of
the active manifest or of its ingredients is a validation problem.

References: C2PA Technical Specification 2.1, section 15 (validation status codes) and
section 18 (actions, ``digitalSourceType``); IPTC NewsCodes Digital Source Type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vericlaim.analyzers._provenance_common import Signal, clean_text, short, source_type_kind
from vericlaim.evidence.model import C2paStore

__all__ = ["TRUST_ONLY", "c2pa_signals", "c2pa_tool_fields"]

# Codes that only say the signer could not be checked against a trust list here.
TRUST_ONLY = frozenset(
    {
        "signingCredential.untrusted",
        "signingCredential.ocsp.skipped",
        "signingCredential.ocsp.inaccessible",
        "signingCredential.ocsp.unknown",
        "timeStamp.untrusted",
    }
)

# Known failure codes in words (zh, en); others are shown as the code itself.
_PROBLEM_WORDS: dict[str, tuple[str, str]] = {
    "claimSignature.mismatch": ("声明签名不匹配", "the claim signature does not verify"),
    "claimSignature.missing": ("缺少声明签名", "the claim signature is missing"),
    "claimSignature.outsideValidity": (
        "签名时间超出证书有效期",
        "signed outside the certificate's validity",
    ),
    "assertion.dataHash.mismatch": (
        "签名后文件数据被改动（数据哈希不匹配）",
        "the file's data changed after signing (data hash mismatch)",
    ),
    "assertion.bmffHash.mismatch": (
        "签名后媒体数据被改动（BMFF 哈希不匹配）",
        "the media data changed after signing (BMFF hash mismatch)",
    ),
    "assertion.boxesHash.mismatch": (
        "签名后文件数据被改动（box 哈希不匹配）",
        "the file's data changed after signing (box hash mismatch)",
    ),
    "assertion.hashedURI.mismatch": (
        "断言内容被改动（哈希引用不匹配）",
        "an assertion was altered (hashed URI mismatch)",
    ),
    "assertion.missing": ("缺少被引用的断言", "a referenced assertion is missing"),
    "signingCredential.expired": ("签名证书已过期", "the signing certificate had expired"),
    "signingCredential.revoked": ("签名证书已被吊销", "the signing certificate is revoked"),
    "signingCredential.invalid": ("签名证书无效", "the signing certificate is invalid"),
    "claim.missing": ("缺少声明", "a claim is missing"),
    "ingredient.manifest.missing": ("成分的清单缺失", "an ingredient's manifest is missing"),
    "timeStamp.mismatch": ("时间戳不匹配", "the time-stamp does not match"),
    "general.error": ("校验出错", "validation error"),
}

_ACTION_LABELS = ("c2pa.actions", "c2pa.actions.v2")


def _entries(results: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    active = results.get("activeManifest") or {}
    for entry in active.get("failure") or []:
        yield "active manifest", entry
    for delta in results.get("ingredientDeltas") or []:
        uri = str(delta.get("ingredientAssertionURI", "ingredient"))
        for entry in (delta.get("validationDeltas") or {}).get("failure") or []:
            yield f"ingredient {uri.rsplit('/', 1)[-1]}", entry


def _problems(store: Mapping[str, Any]) -> list[dict[str, str]]:
    results = store.get("validation_results")
    if isinstance(results, Mapping):
        entries = list(_entries(results))
    else:  # older reports: one flat list
        entries = [("manifest store", e) for e in store.get("validation_status") or []]
    problems: list[dict[str, str]] = []
    for scope, entry in entries:
        if not isinstance(entry, Mapping):
            continue
        code = str(entry.get("code", ""))
        if not code or code in TRUST_ONLY:
            continue
        problems.append(
            {
                "code": code,
                "scope": scope,
                "explanation": short(clean_text(entry.get("explanation", "")), 160),
                "url": short(clean_text(entry.get("url", "")), 200),
            }
        )
    return problems


def _explain(problems: list[dict[str, str]]) -> str:
    """The distinct failure codes for the message (standard identifiers, the same in zh and
    en); each problem's words in both languages go into its details entry."""
    for problem in problems:
        words = _PROBLEM_WORDS.get(problem["code"])
        if words:
            problem["zh"], problem["en"] = words
    codes = [
        p["code"] + ("" if p["scope"] == "active manifest" else " (ingredient)") for p in problems
    ]
    return ", ".join(dict.fromkeys(codes))


def _source_types(value: Any, depth: int = 0) -> Iterator[str]:
    """Every value of a key named ``digitalSourceType`` (any prefix), anywhere in ``value``."""
    if depth > 8:
        return
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if str(key).lower().endswith("digitalsourcetype") and isinstance(inner, str):
                yield inner
            else:
                yield from _source_types(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            yield from _source_types(inner, depth + 1)


def _actions(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    actions: list[Mapping[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        if isinstance(assertion, Mapping) and assertion.get("label") in _ACTION_LABELS:
            data = assertion.get("data") or {}
            actions.extend(a for a in data.get("actions") or [] if isinstance(a, Mapping))
    return actions


def _signer(manifest: Mapping[str, Any]) -> str:
    info = manifest.get("signature_info") or {}
    parts = [str(info.get(k)) for k in ("common_name", "issuer") if info.get(k)]
    return " / ".join(dict.fromkeys(parts)) or "unknown signer"


def c2pa_tool_fields(store: C2paStore | None) -> list[tuple[str, str]]:
    """Software names in the active manifest: claim generators and action agents."""
    manifest = _active(store)
    if manifest is None:
        return []
    fields: list[tuple[str, str]] = []
    if manifest.get("claim_generator"):
        fields.append(("C2PA claim_generator", str(manifest["claim_generator"])))
    for info in manifest.get("claim_generator_info") or []:
        if isinstance(info, Mapping) and info.get("name"):
            fields.append(("C2PA claim_generator_info", str(info["name"])))
    for action in _actions(manifest):
        agent = action.get("softwareAgent")
        name = agent.get("name") if isinstance(agent, Mapping) else agent
        if name:
            fields.append(("C2PA softwareAgent", str(name)))
    return fields


def _active(store: C2paStore | None) -> Mapping[str, Any] | None:
    if store is None or not isinstance(store.manifest_store, Mapping):
        return None
    manifests = store.manifest_store.get("manifests") or {}
    manifest = manifests.get(store.manifest_store.get("active_manifest"))
    return manifest if isinstance(manifest, Mapping) else None


def c2pa_signals(store: C2paStore | None) -> list[Signal]:
    """The signals of one manifest store (nothing for ``None``)."""
    if store is None:
        return []
    if store.error or not isinstance(store.manifest_store, Mapping):
        error = short(store.error or "empty report", 200)
        return [
            Signal(
                "provenance.c2pa_unreadable",
                0.3,
                "c2pa:unreadable",
                {"error": error},
                {"error": error},
            )
        ]
    report = store.manifest_store
    manifests = report.get("manifests") or {}
    manifest = _active(store) or {}
    signer = _signer(manifest)
    generator = str(manifest.get("claim_generator") or "")
    base = {
        "signer": signer,
        "claim_generator": generator,
        "validation_state": store.validation_state,
    }
    signals: list[Signal] = []

    problems = _problems(report)
    if problems or store.validation_state == "Invalid":
        listed = _explain(problems) if problems else "validation_state Invalid"
        signals.append(
            Signal(
                "provenance.c2pa_invalid",
                0.8,
                "c2pa:invalid",
                {"problems": listed},
                {**base, "problems": problems},
            )
        )
    elif store.validation_state == "Trusted":
        signals.append(
            Signal("provenance.c2pa_valid_trusted", 0.0, "c2pa:valid", {"signer": signer}, base)
        )
    else:
        signals.append(
            Signal("provenance.c2pa_valid_untrusted", 0.0, "c2pa:valid", {"signer": signer}, base)
        )

    # AI declarations: the active manifest, then the manifests of its ingredients.
    sources: list[tuple[str, str, str]] = []  # (code, kind, where)
    for value in _source_types(manifest.get("assertions") or []):
        found = source_type_kind(value)
        if found:
            sources.append((found[0], found[1], "active manifest"))
    for ingredient in manifest.get("ingredients") or []:
        if not isinstance(ingredient, Mapping):
            continue
        linked = (
            manifests.get(ingredient.get("active_manifest"))
            if ingredient.get("active_manifest")
            else None
        )
        relationship = str(ingredient.get("relationship", "componentOf"))
        for value in _source_types([ingredient, (linked or {}).get("assertions") or []]):
            found = source_type_kind(value)
            if not found:
                continue
            kind = found[1]
            if kind == "ai" and relationship != "parentOf":
                kind = "ai_composite"  # an AI-made component placed into the picture
            title = short(clean_text(ingredient.get("title", "")), 60)
            sources.append((found[0], kind, f"ingredient {title} ({relationship})"))
    for kind, code in (
        ("ai", "provenance.c2pa_ai_generated"),
        ("ai_composite", "provenance.c2pa_ai_composite"),
    ):
        hits = [s for s in sources if s[1] == kind]
        if hits:
            source_type = ", ".join(dict.fromkeys(h[0] for h in hits))
            signals.append(
                Signal(
                    code,
                    1.0,
                    f"c2pa:{kind}",
                    {"source_type": source_type},
                    {**base, "digital_source_types": [{"type": h[0], "where": h[2]} for h in hits]},
                )
            )
    synthetic = [s for s in sources if s[1] == "synthetic"]
    if synthetic:
        source_type = ", ".join(dict.fromkeys(h[0] for h in synthetic))
        signals.append(
            Signal(
                "provenance.declared_synthetic",
                0.6,
                "declared_synthetic",
                {"where": "C2PA", "source_type": source_type},
                {**base, "where": "C2PA", "digital_source_types": [h[0] for h in synthetic]},
            )
        )

    edits = [str(a.get("action", "")) for a in _actions(manifest)]
    edits = [a for a in edits if a and a != "c2pa.created"]
    if edits:
        listed = ", ".join(dict.fromkeys(edits))
        signals.append(
            Signal(
                "provenance.c2pa_edits",
                0.2,
                "c2pa:edits",
                {"actions": short(listed, 300)},
                {**base, "actions": edits},
            )
        )
    return signals
