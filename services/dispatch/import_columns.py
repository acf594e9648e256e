"""The columns of the four spreadsheets a palace imports and exports: volunteers (志愿者),
troupes (队伍), programs (节目) and enterprise unions (企业工会). One table per kind says the
Chinese header (and the other headers people write for it), the record's field, whether it is
required, how a cell is read, and what the template's example row and 说明 sheet say.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from contracts import payloads

KIND_LABELS = {
    "performance": "文艺演出",
    "training": "培训课程",
    "lecture": "讲座",
    "screening": "电影放映",
    "talk": "宣讲",
    "consultation": "咨询服务",
}
_KIND_ALIASES = {"演出": "performance", "文艺": "performance", "培训": "training", "课程": "training"}
_KIND_ALIASES |= {"放映": "screening", "电影": "screening", "咨询": "consultation", "宣讲会": "talk"}
KIND_CODES = {**{v: k for k, v in KIND_LABELS.items()}, **{k: k for k in KIND_LABELS}, **_KIND_ALIASES}

# skills a palace knows without being told (besides those its volunteers and programs have)
COMMON_SKILLS = ("声乐", "舞蹈", "器乐", "曲艺", "戏曲", "书法", "绘画", "摄影", "放映", "主持", "朗诵")
COMMON_SKILLS += ("心理咨询", "法律咨询", "八段锦")

LIST_TYPES = frozenset({"list", "skills", "districts", "kinds", "needs", "members", "repertoire"})
# cell types whose tidied form is shown to the dispatcher when it differs from what was typed
NOTED_TYPES = frozenset({"id", "phone", "int", "float", "text", "district", "program_kind"})
_SEPARATED = "多项用顿号（、）、逗号或分号隔开。"


@dataclass(frozen=True)
class Column:
    field: str
    header: str
    type: str = "text"  # text id phone int float district program_kind, or one of LIST_TYPES
    required: bool = False
    aliases: tuple[str, ...] = ()
    note: str = ""
    example: str = ""
    width: int = 14
    blank: Any = None  # what an empty cell of an optional text column stands for

    def empty(self) -> Any:
        return [] if self.type in LIST_TYPES else self.blank

    @property
    def numeric(self) -> bool:
        return self.type in ("int", "float")


@dataclass(frozen=True)
class Spec:
    kind: str
    label: str  # 志愿者, used in sentences
    sheet: str  # the worksheet's title
    schema: type
    id_field: str
    name_field: str
    keys: tuple[str, ...]  # besides the id, the fields that find an existing record, in order
    unique: tuple[str, ...]  # two rows with the same value here are the same record
    derive_from: str  # what a new record's id is derived from
    prefix: str
    columns: tuple[Column, ...]
    keep_out: tuple[str, ...] = ()  # fields an import never writes (the service keeps them)

    def column(self, name: str) -> Column | None:
        return _BY_FIELD[self.kind].get(name)


def _id(name: str, label: str) -> Column:
    note = f"留空表示新{label}，导入后自动编号；修改已有{label}时保留导出的编号。"
    return Column(name, "编号", "id", aliases=("ID", f"{label}编号"), note=note, width=24)


def _district(example: str) -> Column:
    return Column(
        "district",
        "区域",
        "district",
        required=True,
        aliases=("区县", "所在区域"),
        note="须是本文化宫的区域之一。",
        example=example,
    )


_MAX_WEEK = Column(
    "max_deliveries_per_week",
    "每周最多场次",
    "int",
    aliases=("每周最多",),
    note="留空表示按文化宫的规则。",
    example="3",
    width=14,
)

VOLUNTEERS = (
    _id("volunteer_id", "志愿者"),
    Column("name", "姓名", required=True, aliases=("志愿者姓名", "名字"), example="王芳", width=12),
    Column(
        "phone",
        "手机号",
        "phone",
        required=True,
        aliases=("手机", "手机号码", "电话", "联系电话"),
        note="11 位手机号，或带区号的固定电话（如 0573-87654321）；+86、空格和横线会自动去掉。已有志愿者按手机号对应。",
        example="13800138000",
        width=16,
    ),
    Column(
        "skills",
        "特长",
        "skills",
        aliases=("技能", "专长"),
        note="须是本文化宫已有的特长；" + _SEPARATED,
        example="声乐、主持",
        width=20,
    ),
    Column(
        "district",
        "区域",
        "district",
        required=True,
        aliases=("区县", "所在区域", "常住区域"),
        note="须是本文化宫的区域之一。",
        example="海昌街道",
    ),
    Column(
        "union_card",
        "工会会员卡号",
        aliases=("会员卡号", "工会会员互助服务卡", "服务卡号"),
        note="工会会员互助服务卡号，没有可留空。",
        width=18,
    ),
    _MAX_WEEK,
    Column(
        "max_hours_per_month",
        "每月最多小时",
        "float",
        aliases=("每月最多时长",),
        note="留空表示按文化宫的规则。",
        example="40",
    ),
    Column(
        "max_travel_km",
        "最远路程（公里）",
        "float",
        aliases=("最远距离（公里）", "最远路程"),
        note="留空表示按文化宫的规则。",
        example="30",
        width=16,
    ),
    Column(
        "preferred_kinds",
        "偏好服务类型",
        "kinds",
        note="可选：" + "、".join(KIND_LABELS.values()) + "；" + _SEPARATED,
        example="文艺演出、培训课程",
        width=20,
    ),
    Column(
        "preferred_districts",
        "偏好区域",
        "districts",
        note="愿意去的区域；" + _SEPARATED,
        example="海宁、许村镇",
        width=18,
    ),
)

TROUPES = (
    _id("troupe_id", "队伍"),
    Column(
        "name",
        "队伍名称",
        required=True,
        aliases=("名称", "队伍", "艺术团", "艺术团名称"),
        note="已有队伍按名称对应。",
        example="职工文艺志愿者艺术团",
        width=24,
    ),
    _district("海宁"),
    Column(
        "members",
        "成员",
        "members",
        aliases=("队员", "成员名单"),
        note="志愿者的编号、手机号，或“姓名（手机号）”；须先导入志愿者。" + _SEPARATED,
        example="王芳（13800138000）、13900001111",
        width=40,
    ),
    Column(
        "repertoire",
        "节目",
        "repertoire",
        aliases=("可演节目", "节目单", "曲目"),
        note="节目的名称或编号；须先导入节目。" + _SEPARATED,
        example="劳动者之歌 文艺演出",
        width=30,
    ),
    replace(_MAX_WEEK, note="这支队伍每周最多出几场；留空表示按文化宫的规则。"),
)

PROGRAMS = (
    _id("program_id", "节目"),
    Column(
        "title",
        "节目名称",
        required=True,
        aliases=("名称", "节目", "服务项目"),
        note="已有节目按名称对应。",
        example="八段锦 工间健身培训",
        width=26,
    ),
    Column(
        "kind",
        "类型",
        "program_kind",
        required=True,
        aliases=("节目类型", "服务类型"),
        note="可选：" + "、".join(KIND_LABELS.values()) + "。",
        example="培训课程",
    ),
    Column(
        "duration_minutes",
        "时长（分钟）",
        "int",
        required=True,
        aliases=("时长", "时长(分钟)", "分钟"),
        note="15 到 720 之间的整数。",
        example="90",
        width=14,
    ),
    Column(
        "needs",
        "人员需求",
        "needs",
        required=True,
        aliases=("所需人员", "需要人员", "人员"),
        note="每项写“特长×人数”，如 主持×1、舞蹈×4（也可写 主持:1）；人数省略为 1。",
        example="八段锦×1、主持×1",
        width=26,
    ),
    Column(
        "description",
        "简介",
        aliases=("介绍", "节目简介", "内容"),
        example="工间十五分钟，跟着老师练八段锦。",
        width=40,
        blank="",
    ),
    Column(
        "site_requirements",
        "场地要求",
        aliases=("场地", "现场要求"),
        example="可容纳 30 人的空地。",
        width=30,
        blank="",
    ),
)

ENTERPRISES = (
    _id("enterprise_id", "企业工会"),
    Column(
        "name",
        "工会名称",
        required=True,
        aliases=("名称", "企业工会", "单位名称", "企业名称"),
        note="已有企业工会按编号、联系电话或名称对应。",
        example="海宁经编产业园联合工会",
        width=28,
    ),
    _district("海昌街道"),
    Column("address", "地址", aliases=("单位地址", "服务地点"), example="海昌街道经编园区 8 号", width=30, blank=""),
    Column("contact_name", "联系人", aliases=("联系人姓名",), example="李明", width=12),
    Column(
        "contact_phone",
        "联系电话",
        "phone",
        aliases=("联系人电话", "联系人手机", "手机号", "电话"),
        note="手机号或带区号的固定电话。",
        example="13900001111",
        width=16,
    ),
)

SPECS = {
    "volunteers": Spec(
        "volunteers",
        "志愿者",
        "志愿者",
        payloads.Volunteer,
        "volunteer_id",
        "name",
        ("phone",),
        ("phone",),
        "phone",
        "v",
        VOLUNTEERS,
    ),
    "troupes": Spec(
        "troupes",
        "队伍",
        "队伍",
        payloads.Troupe,
        "troupe_id",
        "name",
        ("name",),
        ("name",),
        "name",
        "t",
        TROUPES,
        ("shared",),
    ),
    "programs": Spec(
        "programs",
        "节目",
        "节目",
        payloads.Program,
        "program_id",
        "title",
        ("title",),
        ("title",),
        "title",
        "p",
        PROGRAMS,
    ),
    "enterprises": Spec(
        "enterprises",
        "企业工会",
        "企业工会",
        payloads.Enterprise,
        "enterprise_id",
        "name",
        ("contact_phone", "name"),
        ("name",),
        "name",
        "e",
        ENTERPRISES,
    ),
}
KINDS = tuple(SPECS)
_BY_FIELD = {kind: {c.field: c for c in spec.columns} for kind, spec in SPECS.items()}


def spec_of(kind: str) -> Spec:
    try:
        return SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}") from None


def columns(kind: str) -> tuple[Column, ...]:
    return spec_of(kind).columns
