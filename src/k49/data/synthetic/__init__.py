"""A synthetic K49-like dataset, drawn from Japanese fonts, in K49's exact file format.

fonts (which fonts) -> templates (one glyph image per class and font, split into stroke
groups) -> difficulty (what makes it K49-hard: hands, variant forms, page effects) ->
distortions (batched torch transforms) -> pipeline (`generate`: counts, sampling, files);
metadata reads and judges synthetic.json without torch. Names are imported on first use, so
that loading a dataset does not import torch (about 1.2 s) unless the set has to be generated.
"""

from importlib import import_module

_NAMES = {
    "fonts": ("FONT_PACKAGES", "INSTALL_COMMAND", "SYSTEM_FONTS_ENV", "find_fonts",
              "system_font_paths", "system_fonts_enabled"),
    "metadata": ("DEFAULT_SCALE", "GENERATOR_VERSION", "INFO_FILE", "Rebuild", "cache_key",
                 "read_info", "rebuild_needed"),
    "templates": ("GLYPH_SIZE", "TEMPLATE_SIZE", "FontInfo", "TemplateSet",
                  "build_templates", "hentaigana_classes", "stroke_parts"),
    "difficulty": ("DIFFICULTY", "EASY", "MECHANISMS", "Difficulty", "Hands",
                   "difficulty_from_record", "draw_hands"),
    "distortions": ("DISTORTION", "Distortion", "SampleDraws", "draw_samples", "render_batch"),
    "pipeline": ("BATCH_SIZE", "THREADS", "class_counts", "generate", "renderers",
                 "set_hands", "synthesize"),
}
_HOME = {name: module for module, names in _NAMES.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*__all__, *_NAMES])
