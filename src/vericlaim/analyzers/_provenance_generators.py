"""Generator metadata: what AI image tools write about themselves.

Two kinds of evidence:

* generation parameters that only a generator writes: AUTOMATIC1111-style ``parameters``
  text (also used by Forge, SD.Next, Civitai, LiblibAI, Tensor.Art), ComfyUI ``prompt`` and
  ``workflow`` graphs, InvokeAI, NovelAI, Fooocus, SwarmUI and Midjourney fields;
* tool names in the fields where software names itself (EXIF ``Software``, XMP
  ``CreatorTool``, ``softwareAgent``, PNG ``Software``, C2PA claim generators), matched
  against the tables below: generators (``provenance.generator_metadata``) and photo
  editors with AI features (``provenance.ai_tool_software``, which asks for review only:
  editing a photo is not faking it).

The tables are data: product names (Chinese, pinyin and English) as their makers publish
them on their websites and app-store pages, and, for the Chinese services, as listed in
the Cyberspace Administration of China's public register of filed generative AI services
(生成式人工智能服务备案). Short or common words are anchored so that ``Imagen`` does not
match the Spanish word for image and ``Flux`` needs a model suffix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vericlaim.analyzers._provenance_common import clean_text, loose_json, short

__all__ = [
    "AI_EDITORS",
    "GENERATORS",
    "GenerationHit",
    "NameHit",
    "detect_generation_parameters",
    "match_names",
]

# (product, patterns): case-insensitive regular expressions.
GENERATORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Stable Diffusion",
        (r"stable[\s_-]?diffusion", r"\bsdxl\b", r"dreamstudio", r"stability\s?ai"),
    ),
    ("Stable Diffusion WebUI", (r"automatic1111", r"stable-diffusion-webui", r"\bsd[\s.-]?next\b")),
    ("Stable Diffusion WebUI Forge", (r"webui[\s_-]?forge", r"\bsd[\s_-]forge\b")),
    ("ComfyUI", (r"comfy\s?ui",)),
    ("InvokeAI", (r"invoke\s?ai",)),
    ("Fooocus", (r"fooocus",)),
    ("NovelAI", (r"novel\s?ai",)),
    ("Midjourney", (r"mid\s?journey",)),
    ("DALL·E / OpenAI", (r"\bdall[\s·•.\-–_]?e\b", r"\bopenai\b", r"chatgpt", r"gpt-image")),
    ("Sora", (r"\bsora\b",)),
    ("Adobe Firefly", (r"\bfirefly\b",)),
    (
        "Google Imagen / Gemini",
        (r"google\s?imagen", r"\bimagen\s?[234]\b", r"imagefx", r"\bgemini\b", r"nano[\s-]?banana"),
    ),
    (
        "FLUX",
        (
            r"black\s?forest\s?labs",
            r"\bflux(?:\.1|\.2)\b",
            r"\bflux[\s-]+(?:dev|schnell|pro|kontext)\b",
        ),
    ),
    ("Ideogram", (r"ideogram",)),
    ("Leonardo.Ai", (r"leonardo[\s.]?ai",)),
    ("Playground AI", (r"playground\s?ai",)),
    ("Runway", (r"runway\s?ml", r"runway\s?gen")),
    ("Krea", (r"krea[\s.]ai",)),
    ("Tensor.Art", (r"tensor\.?art",)),
    ("SeaArt", (r"seaart",)),
    ("Civitai", (r"civitai",)),
    ("NightCafe", (r"nightcafe",)),
    (
        "Microsoft Designer / Bing Image Creator",
        (r"bing\s?image\s?creator", r"microsoft\s?designer"),
    ),
    ("Meta AI", (r"imagine\s?with\s?meta", r"\bmeta\s?ai\b")),
    ("Draw Things", (r"draw\s?things",)),
    ("Recraft", (r"\brecraft\b",)),
    # Chinese services (CAC register names, pinyin and English brand names).
    ("豆包 Doubao", (r"豆包", r"doubao", r"seedream", r"火山引擎")),
    ("即梦 Jimeng / Dreamina", (r"即梦", r"jimeng", r"dreamina")),
    ("可灵 Kling", (r"可灵", r"\bkling\b", r"可图", r"\bkolors\b")),
    (
        "通义万相 Tongyi Wanxiang",
        (r"通义万相", r"万相", r"wanxiang", r"tongyi", r"通义", r"qwen[\s-]?image"),
    ),
    ("文心一格 ERNIE-ViLG", (r"文心一格", r"文心", r"\byige\b", r"ernie[\s-]?vilg")),
    ("天工 Skywork", (r"天工\s?ai", r"昆仑万维", r"tiangong", r"skywork", r"skyreels")),
    ("腾讯混元 Hunyuan", (r"混元", r"hunyuan")),
    ("海螺 Hailuo (MiniMax)", (r"海螺", r"hailuo", r"minimax")),
    ("LiblibAI", (r"liblib", r"哩布")),
    ("智谱 CogView", (r"cogview", r"智谱", r"清影")),
    ("商汤秒画 SenseMirage", (r"秒画", r"sensemirage")),
    ("美图奇想 MiracleVision", (r"miraclevision", r"奇想智能", r"\bwhee\b")),
    ("Vidu", (r"\bvidu\b", r"生数科技")),
    ("无界AI", (r"无界\s?ai",)),
)

# Photo editors with AI (generative or beautifying) features. Photoshop and Lightroom are
# everyday tools: they count only through the declared generative features below.
AI_EDITORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("美图秀秀 Meitu", (r"美图", r"meitu", r"\bmtxx\b")),
    ("美颜相机 BeautyCam", (r"美颜相机", r"beauty\s?cam")),
    ("醒图 Xingtu / Hypic", (r"醒图", r"xingtu", r"\bhypic\b")),
    ("黄油相机 Butter Camera", (r"黄油相机", r"huangyou", r"butter\s?camera")),
    ("轻颜 Ulike", (r"轻颜", r"\bulike\b", r"qingyan")),
    ("Faceu 激萌", (r"faceu", r"激萌")),
    ("B612 咔叽", (r"\bb612\b",)),
    ("无他相机 Wuta", (r"无他相机", r"wuta\s?cam")),
    ("剪映 CapCut", (r"剪映", r"capcut")),
    ("Picsart", (r"picsart",)),
    ("Remini", (r"remini",)),
    ("FaceApp", (r"faceapp",)),
    ("Facetune", (r"facetune",)),
    ("Lensa", (r"\blensa\b",)),
    ("YouCam", (r"youcam", r"perfect\s?corp")),
    ("Fotor", (r"\bfotor\b",)),
    ("Photoroom", (r"photoroom",)),
    ("Pixelcut", (r"pixelcut",)),
    ("Canva", (r"\bcanva\b",)),
    ("Luminar", (r"luminar",)),
    ("PhotoDirector", (r"photodirector",)),
)

# Declared generative edits, in any metadata text (XMP history, EXIF, PNG text).
GENERATIVE_EDITS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Adobe Generative Fill / Expand",
        (r"generative\s?(?:fill|expand|remove)", r"生成式(?:填充|扩展)"),
    ),
    ("Google Magic Editor / Magic Eraser", (r"magic\s?editor", r"magic\s?eraser")),
    ("Samsung Generative Edit", (r"generative\s?edit",)),
)


def _compile(
    table: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((name, re.compile("|".join(patterns), re.I)) for name, patterns in table)


_GENERATORS = _compile(GENERATORS)
_EDITORS = _compile(AI_EDITORS)
_GENERATIVE = _compile(GENERATIVE_EDITS)
_GENERATIVE_WORDS = ("generative", "magic", "生成式")


@dataclass(frozen=True, slots=True)
class NameHit:
    kind: str  # "generator" or "editor"
    product: str
    where: str
    value: str


def match_names(
    fields: Iterable[tuple[str, Any]], *, free_text: Iterable[tuple[str, Any]] = ()
) -> list[NameHit]:
    """Tool names in ``fields`` (``(where, value)`` of software fields), and declared
    generative edits in ``free_text`` (any metadata text)."""
    hits: list[NameHit] = []
    for where, value in fields:
        text = clean_text(value)
        if not text.strip():
            continue
        for kind, table in (("generator", _GENERATORS), ("editor", _EDITORS)):
            for product, pattern in table:
                if pattern.search(text):
                    hits.append(NameHit(kind, product, where, short(text, 120)))
    for where, value in free_text:
        text = clean_text(value)
        lowered = text.lower()
        # A literal test first: free text may be megabytes, and a miss is the usual case.
        if not any(word in lowered for word in _GENERATIVE_WORDS):
            continue
        for product, pattern in _GENERATIVE:
            found = pattern.search(text)
            if found:
                hits.append(NameHit("editor", product, where, short(found.group(0), 120)))
    return hits


@dataclass(frozen=True, slots=True)
class GenerationHit:
    tool: str
    where: str
    details: Mapping[str, Any]


_A1111 = re.compile(r"\bSteps:\s*\d+\s*,\s*(?:Sampler|Seed|CFG scale|Schedule type)\s*:", re.I)
_A1111_FIELD = re.compile(
    r"\s*([A-Za-z][\w ./-]{0,40}?):\s*(\"(?:[^\"\\]|\\.){0,500}\"|[^,]{0,500})(?:,|$)"
)
_A1111_KEEP = {"steps", "sampler", "seed", "cfg scale", "size", "model", "model hash", "version"}
_MIDJOURNEY = re.compile(r"\bJob ID:\s*[0-9a-f]{8}-[0-9a-f]{4}-", re.I)
_INVOKE_KEYS = {"invokeai_metadata", "invokeai_graph", "invokeai_workflow", "sd-metadata", "dream"}
_COMFY_PREFIX = re.compile(r"^\s*(prompt|workflow)\s*:\s*(\{.*)$", re.S | re.I)


def _a1111(text: str) -> dict[str, Any] | None:
    if "steps:" not in text.lower():
        return None
    match = _A1111.search(text)
    if not match:
        return None
    line = text[match.start() : match.start() + 4000].splitlines()[0]
    details: dict[str, Any] = {}
    for field in _A1111_FIELD.finditer(line):
        key = field.group(1).strip().lower()
        if key in _A1111_KEEP:
            details[key.replace(" ", "_")] = short(field.group(2).strip().strip('"'), 80)
    prompt = text[: match.start()].split("Negative prompt:", 1)[0].strip()
    if prompt:
        details["prompt"] = short(prompt, 200)
    return details


def _comfy(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    nodes = value.get("nodes")
    if isinstance(nodes, list) and ("links" in value or "last_node_id" in value):
        types = [n.get("type") for n in nodes if isinstance(n, dict)]
        return {
            "nodes": len(nodes),
            "node_types": sorted({t for t in types if isinstance(t, str)})[:20],
        }
    graph = [n for n in value.values() if isinstance(n, dict) and "class_type" in n]
    if graph and len(graph) >= len(value) / 2:
        checkpoints = sorted(
            {
                str(n["inputs"]["ckpt_name"])
                for n in graph
                if isinstance(n.get("inputs"), dict) and "ckpt_name" in n["inputs"]
            }
        )
        classes = sorted({str(n["class_type"]) for n in graph})[:20]
        return {"nodes": len(graph), "node_types": classes, "checkpoints": checkpoints[:5]}
    return None


def _json_generator(value: Any) -> tuple[str, dict[str, Any]] | None:
    """Generators that write JSON ``parameters`` (Fooocus, SwarmUI, generic SD front ends)."""
    if not isinstance(value, dict):
        return None
    if "sui_image_params" in value:
        return "SwarmUI", {"keys": sorted(value["sui_image_params"])[:20]} if isinstance(
            value["sui_image_params"], dict
        ) else {}
    blob = " ".join(str(k) for k in value).lower()
    if "fooocus" in blob or "fooocus" in str(value.get("version", "")).lower():
        return "Fooocus", {"version": str(value.get("version", ""))}
    keys = {str(k).lower() for k in value}
    if {"prompt", "seed"} <= keys and keys & {
        "steps",
        "sampler",
        "cfg",
        "cfg_scale",
        "guidance_scale",
    }:
        return "Stable Diffusion front end", {"keys": sorted(keys)[:20]}
    return None


def detect_generation_parameters(texts: Iterable[tuple[str, str, Any]]) -> list[GenerationHit]:
    """Generation parameters in metadata ``texts``: ``(where, key, value)`` triples.

    ``where`` names the container (``"PNG text"``, ``"EXIF"``), ``key`` the chunk or tag.
    """
    hits: list[GenerationHit] = []
    for where, key, value in texts:
        text = clean_text(value)
        lowered = key.lower()
        place = f"{where} {key}"
        if not text.strip():
            continue
        if lowered in _INVOKE_KEYS:
            hits.append(GenerationHit("InvokeAI", place, {"chunk": key}))
            continue
        if lowered == "fooocus_scheme":
            hits.append(GenerationHit("Fooocus", place, {"scheme": short(text, 40)}))
            continue
        prefixed = _COMFY_PREFIX.match(text)
        parsed = loose_json(prefixed.group(2) if prefixed else text) if "{" in text else None
        comfy = _comfy(parsed)
        if comfy and (lowered in ("prompt", "workflow") or prefixed or "class_type" in text):
            hits.append(GenerationHit("ComfyUI", place, comfy))
            continue
        generic = _json_generator(parsed)
        if generic:
            hits.append(GenerationHit(generic[0], place, generic[1]))
            continue
        a1111 = _a1111(text)
        if a1111 is not None:
            hits.append(GenerationHit("Stable Diffusion WebUI (A1111 parameters)", place, a1111))
            continue
        if isinstance(parsed, dict) and lowered == "comment" and {"uc", "steps"} <= set(parsed):
            hits.append(GenerationHit("NovelAI", place, {"steps": parsed.get("steps")}))
            continue
        if "job id" in text.lower() and _MIDJOURNEY.search(text):
            hits.append(GenerationHit("Midjourney", place, {"description": short(text, 200)}))
    return hits
