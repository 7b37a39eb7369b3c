"""Skeletal sites and BMFF trait names (the BMFF-table contract in DESIGN.md)."""

from __future__ import annotations

#: Bilateral femoral sites; each has ``_left``/``_right`` columns and a mean column.
FEMORAL_SITES: tuple[str, ...] = ("femoral_head", "total_hip", "femoral_diaphysis")
#: Vertebrae measured, top to bottom.
VERTEBRAE: tuple[str, ...] = ("t8", "t9", "t10", "t11", "t12", "l1", "l2", "l3", "l4", "l5")
THORACIC: tuple[str, ...] = VERTEBRAE[:5]
LUMBAR: tuple[str, ...] = VERTEBRAE[5:]
SIDES: tuple[str, ...] = ("left", "right")

#: The headline traits: one per site, as in the published GWAS.
MAIN_TRAITS: tuple[str, ...] = (
    "bmff_femoral_head",
    "bmff_total_hip",
    "bmff_femoral_diaphysis",
    "bmff_spine",
)


def bilateral_traits() -> list[str]:
    return [f"bmff_{s}_{side}" for s in FEMORAL_SITES for side in SIDES]


def vertebra_traits() -> list[str]:
    return [f"bmff_{v}" for v in VERTEBRAE]


def all_traits() -> list[str]:
    """Every BMFF column, in table order."""
    return [
        *MAIN_TRAITS,
        "bmff_spine_thoracic",
        "bmff_spine_lumbar",
        *bilateral_traits(),
        *vertebra_traits(),
    ]
