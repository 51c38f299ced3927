"""The simulated world's reference tables: ports, airports, nationalities, regions, the day's curve.

They describe the world the simulator makes; they mirror, but deliberately do not import, the
policy data the engine judges it by.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

# Mainland, Hong Kong and Macao share UTC+8 without DST, so one zone serves the diurnal curve.
LOCAL = ZoneInfo("Asia/Shanghai")

# (Mainland side, other side) of each land or bridge crossing.
HK_LAND_PAIRS = (
    ("CN-LUOHU", "HK-LO-WU"),
    ("CN-FUTIAN", "HK-LOK-MA-CHAU"),
    ("CN-HUANGGANG", "HK-LOK-MA-CHAU"),
    ("CN-SHENZHEN-BAY", "HK-SHENZHEN-BAY"),
    ("CN-HZMB", "HK-HZMB"),
    ("CN-WEST-KOWLOON", "HK-WEST-KOWLOON"),
)
MO_LAND_PAIRS = (
    ("CN-GONGBEI", "MO-BORDER-GATE"),
    ("CN-HENGQIN", "MO-HENGQIN"),
    ("CN-HZMB", "MO-HZMB"),
)
HETAO_PAIR = ("CN-HETAO-BRIDGE", "HK-HETAO-BRIDGE")
TWOV_AIRPORTS = (
    "PEK", "PKX", "PVG", "SHA", "CAN", "SZX", "CTU", "CKG", "XIY",
    "KMG", "XMN", "HGH", "NKG", "TSN", "SHE", "DLC", "TAO", "WUH",
)  # fmt: skip
NOT_TWOV_AIRPORT = "URC"
DIRECT_TRANSIT_AIRPORTS = (
    (date(2024, 1, 11), ("PEK", "PKX", "PVG", "HGH", "XMN", "CAN", "SZX", "TFU", "XIY")),
    (date(2025, 11, 5), ("TSN", "DLC", "NKG", "FOC", "TAO", "WUH", "NNG", "HAK", "CKG", "KMG")),
)
NOT_DIRECT_TRANSIT_AIRPORTS = ("URC", "SHE", "CTU")
SMART_PORTS = (
    (date(2024, 11, 20), ("CN-SHENZHEN-BAY", "CN-GONGBEI")),
    (
        date(2025, 11, 5),
        ("CN-HUANGGANG", "CN-LUOHU", "CN-FUTIAN", "CN-HENGQIN", "CN-HZMB"),
    ),
)
HK_AIRPORT = "HK-AIRPORT"
_TWOV_NATIONALITY_LIST = (
    "AUT BEL CZE DNK EST FIN FRA DEU GRC HUN ISL ITA LVA LTU LUX MLT NLD POL PRT SVK SVN ESP SWE "
    "CHE MCO RUS GBR IRL CYP BGR ROU UKR SRB HRV BIH MNE MKD ALB BLR NOR USA CAN BRA MEX ARG CHL "
    "AUS NZL KOR JPN SGP BRN ARE QAT"
)
TWOV_NATIONALITIES = tuple(_TWOV_NATIONALITY_LIST.split())
TRANSIT_NATIONALITIES = ("IND", "PHL", "THA", "VNM", "USA", "GBR", "AUS", "MYS", "PAK", "KEN")
VISITOR_NATIONALITIES = ("GBR", "USA", "AUS", "CAN", "JPN", "KOR", "SGP", "DEU", "FRA", "MYS")
ONWARD = ("JPN", "KOR", "SGP", "HKG", "THA", "USA", "GBR", "AUS", "MAC", "TWN", "VNM", "MYS")
TALENT_REGIONS = (
    (
        date(2023, 2, 20),
        tuple(f"CN-GD-{c}" for c in ("GZ", "SZ", "ZH", "FS", "HZ", "DG", "ZS", "JM", "ZQ")),
    ),
    (date(2024, 5, 6), ("CN-BJ", "CN-SH")),
    (date(2025, 11, 5), ("CN-JS", "CN-ZJ", "CN-AH", "CN-TJ", "CN-HE", "FTZ-SC", "FTZ-HI")),
)
UNCOVERED_REGIONS = ("CN-XZ", "CN-QH", "CN-GS")
HETAO_TALENT_FROM = date(2025, 11, 5)
# Share of each local hour of the day in the day's crossings (night trough, morning/evening peaks).
DIURNAL = (
    1, 1, 0.5, 0.5, 0.5, 1, 3, 6, 8, 8, 7, 6, 6, 6, 6, 6, 7, 8, 9, 9, 8, 6, 4, 2,
)  # fmt: skip


def all_ports() -> frozenset[str]:
    """Every port code the simulator can use."""
    ports: set[str] = {HK_AIRPORT, NOT_TWOV_AIRPORT, *TWOV_AIRPORTS, *NOT_DIRECT_TRANSIT_AIRPORTS}
    for pair in (*HK_LAND_PAIRS, *MO_LAND_PAIRS, HETAO_PAIR):
        ports.update(pair)
    for _, codes in DIRECT_TRANSIT_AIRPORTS:
        ports.update(codes)
    return frozenset(ports)


def since(table: Sequence[tuple[date, tuple[str, ...]]], on: date) -> tuple[str, ...]:
    """The codes of ``table`` (rows of (since, codes)) in force on ``on``."""
    return tuple(code for since, codes in table if since <= on for code in codes)
