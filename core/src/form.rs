//! Forms as data: a versioned [`FormDefinition`] (sections of typed fields with relevance
//! conditions) that can be written in JSON, and the validation of a visit's [`Answers`]
//! against it. The default four-questions form (四问) is built in; new forms (a fire-safety
//! check, an epidemic survey…) are added as JSON, without a code change.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::validate;

/// A visit's answers, keyed by field id. A sorted map keeps serialisation deterministic, which
/// keeps sync diffs small.
pub type Answers = BTreeMap<String, AnswerValue>;

/// One answer. Serialised as `{"type": "yes_no", "value": true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum AnswerValue {
    /// Free text; also the answer type of `id_number` and `phone` fields.
    Text(String),
    /// The `value` of one option of a single-choice field.
    Choice(String),
    /// The `value`s of the chosen options of a multi-choice field.
    Choices(Vec<String>),
    /// A number.
    Number(f64),
    /// A calendar date as ISO `YYYY-MM-DD` text (the same form it is stored and sent in).
    /// Validation rejects anything else with [`codes::INVALID`]; a blank string counts as
    /// "not given", like blank text.
    Date(String),
    /// Yes (true) or no (false).
    YesNo(bool),
}

/// Machine-readable codes used in [`FieldError::code`].
pub mod codes {
    /// A required, relevant field has no answer.
    pub const REQUIRED: &str = "required";
    /// The answers contain a field id the form does not have.
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// The answer's type does not fit the field kind.
    pub const WRONG_TYPE: &str = "wrong_type";
    /// A chosen value is not one of the field's options.
    pub const NOT_AN_OPTION: &str = "not_an_option";
    /// Text is longer than `max_len`.
    pub const TOO_LONG: &str = "too_long";
    /// Text is shorter than `min_len`.
    pub const TOO_SHORT: &str = "too_short";
    /// A number is outside `min..=max`.
    pub const OUT_OF_RANGE: &str = "out_of_range";
    /// A number must be whole but has a fraction.
    pub const NOT_INTEGER: &str = "not_integer";
    /// More options chosen than `max`.
    pub const TOO_MANY: &str = "too_many";
    /// Fewer options chosen than `min`.
    pub const TOO_FEW: &str = "too_few";
    /// A date after today where the field does not allow it.
    pub const FUTURE_DATE: &str = "future_date";
    /// An answer to a field whose relevance condition is false.
    pub const NOT_APPLICABLE: &str = "not_applicable";
    /// Otherwise malformed: repeated options, a number that is not finite, an invalid ID
    /// number or phone number.
    pub const INVALID: &str = "invalid";
}

/// A problem with one answer. `message` is short Chinese for the grid worker and never
/// repeats the answer, which may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FieldError {
    /// The field id (for `unknown_field`, the unknown key).
    pub field: String,
    /// One of the constants in [`codes`].
    pub code: String,
    /// Short Chinese text, e.g. "此项为必填".
    pub message: String,
}

impl FieldError {
    fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// A versioned form. Answers are always validated against the definition (id and version)
/// they were recorded with, so a changed form gets a new version rather than an edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormDefinition {
    /// Stable identifier, e.g. `"four_questions"`.
    pub id: String,
    /// Incremented whenever fields, options or rules change.
    pub version: u32,
    /// Title shown to the worker.
    pub title: String,
    /// Sections in display order.
    pub sections: Vec<Section>,
}

/// A titled group of fields, shown as one page or block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Identifier, unique within the form.
    pub id: String,
    /// Title shown to the worker.
    pub title: String,
    /// Fields in display order.
    pub fields: Vec<Field>,
}

/// One question. In JSON the kind is flattened in:
/// `{"id":"has_needs","label":"…","type":"yes_no","required":true,"relevant":null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Identifier, unique within the whole form (it is the key in [`Answers`]).
    pub id: String,
    /// The question as shown to the worker.
    pub label: String,
    /// What kind of answer the field takes, with its constraints.
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Must be answered whenever the field is relevant.
    #[serde(default)]
    pub required: bool,
    /// When the field applies; `None` means always. May refer only to earlier fields; a field
    /// it refers to that does not apply counts as unanswered ([`FormDefinition::visible_fields`]).
    #[serde(default)]
    pub relevant: Option<Condition>,
    /// Extra guidance shown under the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The kind of answer a field takes, tagged by `"type"` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text; lengths count characters (not bytes) after trimming.
    Text {
        /// Longest allowed length.
        #[serde(default)]
        max_len: Option<u32>,
        /// Shortest allowed length of a non-empty answer.
        #[serde(default)]
        min_len: Option<u32>,
    },
    /// Exactly one of the options.
    SingleChoice {
        /// The options, in display order.
        options: Vec<ChoiceOption>,
    },
    /// Any number of distinct options, within `min..=max`.
    MultiChoice {
        /// The options, in display order.
        options: Vec<ChoiceOption>,
        /// Fewest options to choose.
        #[serde(default)]
        min: Option<u32>,
        /// Most options to choose.
        #[serde(default)]
        max: Option<u32>,
    },
    /// A number within `min..=max`.
    Number {
        /// Smallest allowed value.
        #[serde(default)]
        min: Option<f64>,
        /// Largest allowed value.
        #[serde(default)]
        max: Option<f64>,
        /// Whether only whole numbers are allowed.
        #[serde(default)]
        integer: bool,
    },
    /// A calendar date.
    Date {
        /// Whether dates after today are allowed (e.g. an expiry date).
        #[serde(default)]
        allow_future: bool,
    },
    /// Yes or no.
    YesNo,
    /// A resident ID number (GB 11643-1999), answered as text and checked with
    /// [`validate::check_id_number`].
    IdNumber,
    /// A mainland mobile or landline number, answered as text and checked with
    /// [`validate::check_phone`].
    Phone,
}

/// One option of a choice field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    /// Stable stored value; labels may be reworded, values never change within a version.
    pub value: String,
    /// Text shown to the worker.
    pub label: String,
}

/// When a field is relevant, computed from earlier answers. Tagged by `"op"` in JSON, e.g.
/// `{"op":"equals","field":"has_needs","value":{"type":"yes_no","value":true}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Condition {
    /// The field's answer equals `value` (false when unanswered).
    Equals {
        /// The referenced field id.
        field: String,
        /// The answer to compare with.
        value: AnswerValue,
    },
    /// The field's answer equals one of `values` (false when unanswered).
    AnyOf {
        /// The referenced field id.
        field: String,
        /// The answers to compare with.
        values: Vec<AnswerValue>,
    },
    /// The multi-choice field's answer includes `value` (false when unanswered).
    Contains {
        /// The referenced multi-choice field id.
        field: String,
        /// The option value to look for.
        value: String,
    },
    /// The field has a non-empty answer.
    Answered {
        /// The referenced field id.
        field: String,
    },
    /// The inner condition is false.
    Not {
        /// The negated condition.
        cond: Box<Condition>,
    },
    /// All inner conditions are true.
    All {
        /// The conditions (at least one).
        conds: Vec<Condition>,
    },
    /// At least one inner condition is true.
    Any {
        /// The conditions (at least one).
        conds: Vec<Condition>,
    },
}

impl Condition {
    /// Evaluates the condition on `answers` taken as they are. Whether a field is shown also
    /// depends on whether the fields its condition looks at are shown: that is
    /// [`FormDefinition::visible_fields`].
    pub fn evaluate(&self, answers: &Answers) -> bool {
        self.holds(&|id| answers.get(id))
    }

    /// Evaluates the condition with `answer` looking up a field's answer as the condition should
    /// see it (`None`: not answered).
    fn holds<'a>(&self, answer: &dyn Fn(&str) -> Option<&'a AnswerValue>) -> bool {
        match self {
            Condition::Equals { field, value } => answer(field) == Some(value),
            Condition::AnyOf { field, values } => answer(field).is_some_and(|a| values.contains(a)),
            Condition::Contains { field, value } => {
                matches!(answer(field), Some(AnswerValue::Choices(chosen)) if chosen.contains(value))
            }
            Condition::Answered { field } => answer(field).is_some_and(|a| !is_empty(a)),
            Condition::Not { cond } => !cond.holds(answer),
            Condition::All { conds } => conds.iter().all(|c| c.holds(answer)),
            Condition::Any { conds } => conds.iter().any(|c| c.holds(answer)),
        }
    }
}

/// A problem in a form definition, found when it is loaded. Messages name the form part at
/// fault so the person writing the JSON can fix it.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The text is not JSON of the form's shape.
    #[error("表单定义不是有效的 JSON / form definition is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An id or title is empty.
    #[error("{what} 不能为空 / {what} must not be empty")]
    Empty {
        /// Which part, e.g. "form id" or "label of field `health`".
        what: String,
    },
    /// The form has no fields at all.
    #[error("表单没有任何字段 / form has no fields")]
    NoFields,
    /// Two sections share an id.
    #[error("分区 `{0}` 重复 / duplicate section id `{0}`")]
    DuplicateSection(String),
    /// Two fields share an id.
    #[error("字段 `{0}` 重复 / duplicate field id `{0}`")]
    DuplicateField(String),
    /// A choice field has no options.
    #[error("字段 `{0}` 没有选项 / field `{0}` has no options")]
    EmptyOptions(String),
    /// A choice field lists the same option value twice.
    #[error("字段 `{field}` 的选项 `{value}` 重复 / field `{field}` repeats option `{value}`")]
    DuplicateOption {
        /// The field id.
        field: String,
        /// The repeated option value.
        value: String,
    },
    /// Bounds that cannot be met: min > max, a non-finite number, or more choices required
    /// than there are options.
    #[error("字段 `{field}` 的取值范围无效 / field `{field}` has an invalid range: {reason}")]
    InvalidRange {
        /// The field id.
        field: String,
        /// What is wrong with the bounds.
        reason: String,
    },
    /// A relevance condition refers to a field the form does not have.
    #[error(
        "字段 `{field}` 的显示条件引用了不存在的字段 `{refers_to}` / field `{field}` condition refers to unknown field `{refers_to}`"
    )]
    UnknownConditionField {
        /// The field whose condition is wrong.
        field: String,
        /// The missing field id.
        refers_to: String,
    },
    /// A relevance condition refers to the field itself or a later one; conditions must only
    /// look back so the form can be filled top to bottom.
    #[error(
        "字段 `{field}` 的显示条件只能引用前面的字段,不能引用 `{refers_to}` / field `{field}` condition must refer to an earlier field, not `{refers_to}`"
    )]
    LaterConditionField {
        /// The field whose condition is wrong.
        field: String,
        /// The field id referred to.
        refers_to: String,
    },
    /// A relevance condition can never match the referenced field (wrong answer type, an
    /// option it does not have, `contains` on a non-multi-choice field, an empty all/any).
    #[error("字段 `{field}` 的显示条件无效 / field `{field}` has an invalid condition: {reason}")]
    InvalidCondition {
        /// The field whose condition is wrong.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// Whether an answer counts as "not given": blank text or nothing chosen. The UI may keep such
/// values around, and they must neither satisfy `required` nor count as an answer to a field
/// that does not apply.
fn is_empty(answer: &AnswerValue) -> bool {
    match answer {
        AnswerValue::Text(s) | AnswerValue::Choice(s) | AnswerValue::Date(s) => s.trim().is_empty(),
        AnswerValue::Choices(v) => v.is_empty(),
        AnswerValue::Number(_) | AnswerValue::YesNo(_) => false,
    }
}

/// Whether `answer` has the type a field of `kind` takes.
fn fits(kind: &FieldKind, answer: &AnswerValue) -> bool {
    matches!(
        (kind, answer),
        (
            FieldKind::Text { .. } | FieldKind::IdNumber | FieldKind::Phone,
            AnswerValue::Text(_)
        ) | (FieldKind::SingleChoice { .. }, AnswerValue::Choice(_))
            | (FieldKind::MultiChoice { .. }, AnswerValue::Choices(_))
            | (FieldKind::Number { .. }, AnswerValue::Number(_))
            | (FieldKind::Date { .. }, AnswerValue::Date(_))
            | (FieldKind::YesNo, AnswerValue::YesNo(_))
    )
}

fn options_of(kind: &FieldKind) -> Option<&[ChoiceOption]> {
    match kind {
        FieldKind::SingleChoice { options } | FieldKind::MultiChoice { options, .. } => {
            Some(options)
        }
        _ => None,
    }
}

fn has_option(kind: &FieldKind, value: &str) -> bool {
    options_of(kind).is_some_and(|opts| opts.iter().any(|o| o.value == value))
}

impl Field {
    /// Validates this field's answer, returning at most one error: the first problem found.
    fn validate(
        &self,
        answer: Option<&AnswerValue>,
        relevant: bool,
        today: NaiveDate,
    ) -> Option<FieldError> {
        let err = |code: &str, message: String| Some(FieldError::new(&self.id, code, message));
        let Some(answer) = answer else {
            return (self.required && relevant).then(|| required_error(&self.id));
        };
        if !fits(&self.kind, answer) {
            return err(codes::WRONG_TYPE, "答案类型与此项不符".to_owned());
        }
        if is_empty(answer) {
            return (self.required && relevant).then(|| required_error(&self.id));
        }
        if !relevant {
            return err(
                codes::NOT_APPLICABLE,
                "根据前面的回答,此项无需填写".to_owned(),
            );
        }
        match (&self.kind, answer) {
            (FieldKind::Text { max_len, min_len }, AnswerValue::Text(text)) => {
                let len = text.trim().chars().count();
                if let Some(max) = max_len.filter(|&m| len > m as usize) {
                    return err(codes::TOO_LONG, format!("内容过长,最多 {max} 字"));
                }
                if let Some(min) = min_len.filter(|&m| len < m as usize) {
                    return err(codes::TOO_SHORT, format!("内容过短,至少 {min} 字"));
                }
                None
            }
            (FieldKind::SingleChoice { .. }, AnswerValue::Choice(value)) => {
                if has_option(&self.kind, value) {
                    None
                } else {
                    err(codes::NOT_AN_OPTION, "所选内容不在选项中".to_owned())
                }
            }
            (FieldKind::MultiChoice { min, max, .. }, AnswerValue::Choices(values)) => {
                if values.iter().any(|v| !has_option(&self.kind, v)) {
                    return err(codes::NOT_AN_OPTION, "所选内容不在选项中".to_owned());
                }
                let distinct: BTreeSet<&String> = values.iter().collect();
                if distinct.len() != values.len() {
                    return err(codes::INVALID, "选项重复".to_owned());
                }
                if let Some(min) = min.filter(|&m| values.len() < m as usize) {
                    return err(codes::TOO_FEW, format!("至少选择 {min} 项"));
                }
                if let Some(max) = max.filter(|&m| values.len() > m as usize) {
                    return err(codes::TOO_MANY, format!("最多选择 {max} 项"));
                }
                None
            }
            (FieldKind::Number { min, max, integer }, AnswerValue::Number(n)) => {
                // JSON cannot carry NaN or infinity, but answers built in code can.
                if !n.is_finite() {
                    return err(codes::INVALID, "数值无效".to_owned());
                }
                if *integer && n.fract() != 0.0 {
                    return err(codes::NOT_INTEGER, "请填写整数".to_owned());
                }
                let below = min.is_some_and(|m| *n < m);
                let above = max.is_some_and(|m| *n > m);
                if below || above {
                    return err(codes::OUT_OF_RANGE, range_message(*min, *max));
                }
                None
            }
            (FieldKind::Date { allow_future }, AnswerValue::Date(text)) => match parse_date(text) {
                None => err(codes::INVALID, "日期格式不正确".to_owned()),
                Some(date) if !allow_future && date > today => {
                    err(codes::FUTURE_DATE, "日期不能晚于今天".to_owned())
                }
                Some(_) => None,
            },
            (FieldKind::IdNumber, AnswerValue::Text(text)) => {
                validate::check_id_number(text, today)
                    .err()
                    .and_then(|e| err(codes::INVALID, e.message_zh().to_owned()))
            }
            (FieldKind::Phone, AnswerValue::Text(text)) => validate::check_phone(text)
                .err()
                .and_then(|_| err(codes::INVALID, "电话号码格式不正确".to_owned())),
            // Yes/no has no constraints; other pairs were ruled out by `fits`.
            _ => None,
        }
    }
}

/// Parses a date answer: exactly `YYYY-MM-DD` (no padding left out, no time, no spaces), so one
/// day has one stored spelling and answers compare equal in conditions.
fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| d.format("%Y-%m-%d").to_string() == text)
}

fn required_error(field: &str) -> FieldError {
    FieldError::new(field, codes::REQUIRED, "此项为必填")
}

fn range_message(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("数值应在 {lo} 到 {hi} 之间"),
        (Some(lo), None) => format!("数值不能小于 {lo}"),
        (None, Some(hi)) => format!("数值不能大于 {hi}"),
        (None, None) => "数值超出范围".to_owned(),
    }
}

impl FormDefinition {
    /// The default, versioned four-questions form: id "four_questions", version 1.
    ///
    /// Asked at every household visit (四问): basic situation, family matters, difficulties
    /// and needs, opinions and suggestions. Option values are stable English codes so that
    /// stored answers survive rewording of the Chinese labels.
    pub fn four_questions() -> FormDefinition {
        let has_dispute = yes("has_dispute");
        let has_needs = yes("has_needs");
        let relations = [
            ("harmonious", "和睦"),
            ("average", "一般"),
            ("tense", "紧张"),
        ];
        FormDefinition {
            id: "four_questions".to_owned(),
            version: 1,
            title: "入户走访四问".to_owned(),
            sections: vec![
                section(
                    "basic",
                    "问基本情况",
                    vec![
                        field(
                            "household_changes",
                            "家庭人口变化",
                            multi(&[
                                ("none", "无变化"),
                                ("birth", "出生"),
                                ("death", "死亡"),
                                ("moved_in", "迁入"),
                                ("moved_out", "迁出"),
                                ("marriage", "婚姻变化"),
                                ("other", "其他"),
                            ]),
                        )
                        .required()
                        .hint("上次走访以来的变化,可多选;有变化请同步更新人口信息"),
                        field(
                            "health",
                            "家庭成员健康状况",
                            single(&[
                                ("good", "良好"),
                                ("fair", "一般"),
                                ("poor", "较差"),
                                ("needs_care", "需要照护"),
                            ]),
                        ),
                        field(
                            "employment",
                            "就业情况",
                            single(&[
                                ("stable", "稳定就业"),
                                ("flexible", "灵活就业"),
                                ("migrant", "外出务工"),
                                ("unemployed", "失业待业"),
                                ("retired", "退休"),
                                ("unable", "无劳动能力"),
                            ]),
                        ),
                        field("basic_notes", "基本情况备注", text(500)),
                    ],
                ),
                section(
                    "family",
                    "问家长里短",
                    vec![
                        field("family_relations", "家庭关系", single(&relations)),
                        field("neighbour_relations", "邻里关系", single(&relations)),
                        field("has_dispute", "是否有矛盾纠纷", FieldKind::YesNo)
                            .required()
                            .hint("包括正在酝酿、尚未激化的矛盾"),
                        field(
                            "dispute_kind",
                            "纠纷类型",
                            single(&[
                                ("family", "家庭"),
                                ("neighbour", "邻里"),
                                ("property", "物业"),
                                ("other", "其他"),
                            ]),
                        )
                        .required()
                        .when(has_dispute.clone()),
                        field("dispute_notes", "纠纷情况说明", text(500)).when(has_dispute),
                    ],
                ),
                section(
                    "needs",
                    "问困难需求",
                    vec![
                        field("has_needs", "是否有困难或需求", FieldKind::YesNo).required(),
                        field(
                            "need_types",
                            "需求类型",
                            FieldKind::MultiChoice {
                                options: options(&[
                                    ("minimum_income", "低保"),
                                    ("medical_insurance", "医保"),
                                    ("pension_certification", "养老认证"),
                                    ("employment_help", "就业帮扶"),
                                    ("housing_repair", "房屋维修"),
                                    ("elderly_care", "养老照护"),
                                    ("child_care", "儿童照护"),
                                    ("other", "其他"),
                                ]),
                                min: Some(1),
                                max: None,
                            },
                        )
                        .required()
                        .when(has_needs.clone())
                        .hint("每项需求都会生成待跟进事项"),
                        field("need_notes", "需求说明", text(500)).when(has_needs),
                    ],
                ),
                section(
                    "suggestions",
                    "问意见建议",
                    vec![
                        field(
                            "suggestion_topics",
                            "意见建议涉及",
                            multi(&[
                                ("parking", "停车"),
                                ("water_pressure", "水压"),
                                ("benches", "公共座椅"),
                                ("heating", "供暖"),
                                ("sanitation", "环境卫生"),
                                ("safety", "安全"),
                                ("other", "其他"),
                            ]),
                        ),
                        field("suggestions", "意见建议", text(500)),
                    ],
                ),
            ],
        }
    }

    /// Parses a definition from JSON and checks that it is well formed (see [`Self::check`]).
    pub fn from_json(json: &str) -> Result<FormDefinition, FormError> {
        let form: FormDefinition = serde_json::from_str(json)?;
        form.check()?;
        Ok(form)
    }

    /// The definition as pretty-printed JSON, readable for the people who maintain forms.
    pub fn to_json(&self) -> String {
        // Serialising plain structs with string keys cannot fail (non-finite floats become
        // null), so an empty string here would only mean a serde_json bug.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// All fields in form order, across sections.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.sections.iter().flat_map(|s| s.fields.iter())
    }

    /// The field with this id, if the form has one.
    pub fn field(&self, id: &str) -> Option<&Field> {
        self.fields().find(|f| f.id == id)
    }

    /// Checks that the definition is well formed: non-empty ids and labels, unique section and
    /// field ids, choice fields with unique options, satisfiable bounds, and conditions that
    /// refer only to earlier fields with answers those fields can actually have.
    pub fn check(&self) -> Result<(), FormError> {
        non_empty(&self.id, || "表单 id / form id".to_owned())?;
        non_empty(&self.title, || "表单标题 / form title".to_owned())?;
        let mut section_ids = BTreeSet::new();
        for section in &self.sections {
            non_empty(&section.id, || "分区 id / section id".to_owned())?;
            if !section_ids.insert(section.id.as_str()) {
                return Err(FormError::DuplicateSection(section.id.clone()));
            }
        }
        // Fields seen so far, by id: a condition may only look at these.
        let mut earlier: BTreeMap<&str, &Field> = BTreeMap::new();
        for field in self.fields() {
            non_empty(&field.id, || "字段 id / field id".to_owned())?;
            non_empty(&field.label, || {
                format!("字段 `{}` 的标题 / label of field `{}`", field.id, field.id)
            })?;
            if earlier.contains_key(field.id.as_str()) {
                return Err(FormError::DuplicateField(field.id.clone()));
            }
            check_kind(field)?;
            if let Some(cond) = &field.relevant {
                self.check_condition(field, cond, &earlier)?;
            }
            earlier.insert(&field.id, field);
        }
        if earlier.is_empty() {
            return Err(FormError::NoFields);
        }
        Ok(())
    }

    fn check_condition(
        &self,
        owner: &Field,
        cond: &Condition,
        earlier: &BTreeMap<&str, &Field>,
    ) -> Result<(), FormError> {
        let invalid = |reason: String| FormError::InvalidCondition {
            field: owner.id.clone(),
            reason,
        };
        let target = |id: &str| -> Result<&Field, FormError> {
            if let Some(f) = earlier.get(id) {
                return Ok(f);
            }
            if id == owner.id || self.field(id).is_some() {
                Err(FormError::LaterConditionField {
                    field: owner.id.clone(),
                    refers_to: id.to_owned(),
                })
            } else {
                Err(FormError::UnknownConditionField {
                    field: owner.id.clone(),
                    refers_to: id.to_owned(),
                })
            }
        };
        // A compared value must be a possible answer, otherwise the condition is silently
        // never true and the dependent field never shows.
        let possible = |target: &Field, value: &AnswerValue| -> Result<(), FormError> {
            if !fits(&target.kind, value) {
                return Err(invalid(format!(
                    "`{}` 的答案类型不符 / answer type does not fit `{}`",
                    target.id, target.id
                )));
            }
            let chosen: &[String] = match value {
                AnswerValue::Choice(v) => std::slice::from_ref(v),
                AnswerValue::Choices(vs) => vs,
                _ => &[],
            };
            if let Some(v) = chosen.iter().find(|v| !has_option(&target.kind, v)) {
                return Err(invalid(format!(
                    "`{}` 没有选项 `{v}` / `{}` has no option `{v}`",
                    target.id, target.id
                )));
            }
            Ok(())
        };
        match cond {
            Condition::Equals { field, value } => possible(target(field)?, value),
            Condition::AnyOf { field, values } => {
                let t = target(field)?;
                if values.is_empty() {
                    return Err(invalid("any_of 没有取值 / any_of has no values".to_owned()));
                }
                values.iter().try_for_each(|v| possible(t, v))
            }
            Condition::Contains { field, value } => {
                let t = target(field)?;
                if !matches!(t.kind, FieldKind::MultiChoice { .. }) {
                    return Err(invalid(format!(
                        "`{}` 不是多选题 / `{}` is not a multi choice field",
                        t.id, t.id
                    )));
                }
                possible(t, &AnswerValue::Choices(vec![value.clone()]))
            }
            Condition::Answered { field } => target(field).map(|_| ()),
            Condition::Not { cond } => self.check_condition(owner, cond, earlier),
            Condition::All { conds } | Condition::Any { conds } => {
                if conds.is_empty() {
                    return Err(invalid(
                        "all/any 没有条件 / all/any has no conditions".to_owned(),
                    ));
                }
                conds
                    .iter()
                    .try_for_each(|c| self.check_condition(owner, c, earlier))
            }
        }
    }

    /// The ids of the fields shown for `answers`, in form order: what the visit screen shows
    /// while the worker types, and exactly the fields [`Self::validate`] treats as relevant.
    ///
    /// A field is shown when it has no condition or its condition holds on the answers of the
    /// fields shown before it. An answer kept for a hidden field (the worker answered it, then
    /// changed the answer that showed it) counts as not given, so a field whose condition looks
    /// at a hidden field is decided as if that field were unanswered. Answers to ids the form
    /// does not have are ignored; an answer of the wrong type matches no compared value.
    ///
    /// Cheap enough for every keystroke: one pass over the fields, no allocation per condition.
    pub fn visible_fields(&self, answers: &Answers) -> Vec<String> {
        self.fields()
            .zip(self.relevance(answers))
            .filter(|&(_, shown)| shown)
            .map(|(f, _)| f.id.clone())
            .collect()
    }

    /// For each field in form order, whether it is shown (see [`Self::visible_fields`]).
    /// Conditions refer only to earlier fields ([`Self::check`]), so one pass in order decides
    /// every field.
    fn relevance(&self, answers: &Answers) -> Vec<bool> {
        let mut shown: BTreeSet<&str> = BTreeSet::new();
        self.fields()
            .map(|f| {
                let applies = f
                    .relevant
                    .as_ref()
                    .is_none_or(|c| c.holds(&|id| answers.get(id).filter(|_| shown.contains(id))));
                if applies {
                    shown.insert(&f.id);
                }
                applies
            })
            .collect()
    }

    /// Validates answers given `today` (for date checks). Empty vec = valid. Rules: unknown
    /// field id → unknown_field; answer of wrong type for the field kind → wrong_type; required
    /// AND relevant field missing (or empty text / empty choices) → required; an answer given
    /// to a field that is not relevant → not_applicable; constraints per kind. A field is
    /// relevant when [`Self::visible_fields`] shows it for these answers (a missing referenced
    /// answer makes Equals/AnyOf/Contains false; so does an answer to a field that is itself
    /// not relevant). Errors listed in form order.
    ///
    /// At most one error is reported per field (the first found, in the order above, except
    /// that a wrong type wins over not_applicable). Unknown fields come last, sorted by id.
    pub fn validate(&self, answers: &Answers, today: NaiveDate) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = self
            .fields()
            .zip(self.relevance(answers))
            .filter_map(|(f, relevant)| f.validate(answers.get(&f.id), relevant, today))
            .collect();
        errors.extend(
            answers
                .keys()
                .filter(|id| self.field(id).is_none())
                .map(|id| FieldError::new(id, codes::UNKNOWN_FIELD, "表单中没有此项")),
        );
        errors
    }
}

fn non_empty(s: &str, what: impl FnOnce() -> String) -> Result<(), FormError> {
    if s.trim().is_empty() {
        Err(FormError::Empty { what: what() })
    } else {
        Ok(())
    }
}

fn check_kind(field: &Field) -> Result<(), FormError> {
    let range = |reason: &str| FormError::InvalidRange {
        field: field.id.clone(),
        reason: reason.to_owned(),
    };
    if let Some(opts) = options_of(&field.kind) {
        if opts.is_empty() {
            return Err(FormError::EmptyOptions(field.id.clone()));
        }
        let mut seen = BTreeSet::new();
        for opt in opts {
            non_empty(&opt.value, || {
                format!(
                    "字段 `{}` 的选项值 / option value of field `{}`",
                    field.id, field.id
                )
            })?;
            non_empty(&opt.label, || {
                format!(
                    "字段 `{}` 的选项标题 / option label of field `{}`",
                    field.id, field.id
                )
            })?;
            if !seen.insert(opt.value.as_str()) {
                return Err(FormError::DuplicateOption {
                    field: field.id.clone(),
                    value: opt.value.clone(),
                });
            }
        }
    }
    match &field.kind {
        FieldKind::Text { max_len, min_len } if inverted(*min_len, *max_len) => {
            Err(range("min_len > max_len"))
        }
        FieldKind::MultiChoice { min, max, .. } if inverted(*min, *max) => Err(range("min > max")),
        FieldKind::MultiChoice { options, min, .. }
            if min.is_some_and(|m| m as usize > options.len()) =>
        {
            Err(range("min is more than the number of options"))
        }
        FieldKind::Number { min, max, .. }
            if min.is_some_and(|m| !m.is_finite()) || max.is_some_and(|m| !m.is_finite()) =>
        {
            Err(range("bounds must be finite numbers"))
        }
        FieldKind::Number { min, max, .. } if inverted(*min, *max) => Err(range("min > max")),
        _ => Ok(()),
    }
}

/// Whether both bounds are set and the lower one exceeds the upper one.
fn inverted<T: PartialOrd>(lo: Option<T>, hi: Option<T>) -> bool {
    matches!((lo, hi), (Some(lo), Some(hi)) if lo > hi)
}

// Builders for the built-in form: terser than struct literals and impossible to get wrong in
// the ways `check` looks for.

fn section(id: &str, title: &str, fields: Vec<Field>) -> Section {
    Section {
        id: id.to_owned(),
        title: title.to_owned(),
        fields,
    }
}

fn field(id: &str, label: &str, kind: FieldKind) -> Field {
    Field {
        id: id.to_owned(),
        label: label.to_owned(),
        kind,
        required: false,
        relevant: None,
        hint: None,
    }
}

impl Field {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn when(mut self, cond: Condition) -> Self {
        self.relevant = Some(cond);
        self
    }

    fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_owned());
        self
    }
}

fn options(pairs: &[(&str, &str)]) -> Vec<ChoiceOption> {
    pairs
        .iter()
        .map(|(value, label)| ChoiceOption {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
        })
        .collect()
}

fn single(pairs: &[(&str, &str)]) -> FieldKind {
    FieldKind::SingleChoice {
        options: options(pairs),
    }
}

fn multi(pairs: &[(&str, &str)]) -> FieldKind {
    FieldKind::MultiChoice {
        options: options(pairs),
        min: None,
        max: None,
    }
}

fn text(max_len: u32) -> FieldKind {
    FieldKind::Text {
        max_len: Some(max_len),
        min_len: None,
    }
}

fn yes(field: &str) -> Condition {
    Condition::Equals {
        field: field.to_owned(),
        value: AnswerValue::YesNo(true),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
    }

    fn answers(pairs: &[(&str, AnswerValue)]) -> Answers {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn choices(values: &[&str]) -> AnswerValue {
        AnswerValue::Choices(values.iter().map(|v| (*v).to_owned()).collect())
    }

    fn text(s: &str) -> AnswerValue {
        AnswerValue::Text(s.to_owned())
    }

    fn choice(s: &str) -> AnswerValue {
        AnswerValue::Choice(s.to_owned())
    }

    fn date(d: NaiveDate) -> AnswerValue {
        AnswerValue::Date(d.to_string())
    }

    /// (field, code) pairs, in the order reported.
    fn codes_of(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect()
    }

    /// The least a worker must record at a visit where nothing happened.
    fn quiet_visit() -> Answers {
        answers(&[
            ("household_changes", choices(&["none"])),
            ("has_dispute", AnswerValue::YesNo(false)),
            ("has_needs", AnswerValue::YesNo(false)),
        ])
    }

    fn check_json(value: serde_json::Value) -> Result<FormDefinition, FormError> {
        FormDefinition::from_json(&value.to_string())
    }

    /// A small valid form to mutate in definition tests.
    fn small_form(fields: serde_json::Value) -> serde_json::Value {
        json!({"id": "t", "version": 1, "title": "测试", "sections": [
            {"id": "s", "title": "分区", "fields": fields}
        ]})
    }

    #[test]
    fn four_questions_form_is_well_formed_and_versioned() {
        let form = FormDefinition::four_questions();
        form.check().unwrap();
        assert_eq!(form.id, "four_questions");
        assert_eq!(form.version, 1);
    }

    #[test]
    fn four_questions_has_the_four_sections_and_their_fields_in_order() {
        let form = FormDefinition::four_questions();
        let sections: Vec<(&str, &str)> = form
            .sections
            .iter()
            .map(|s| (s.id.as_str(), s.title.as_str()))
            .collect();
        assert_eq!(
            sections,
            [
                ("basic", "问基本情况"),
                ("family", "问家长里短"),
                ("needs", "问困难需求"),
                ("suggestions", "问意见建议")
            ]
        );
        let ids: Vec<&str> = form.fields().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "household_changes",
                "health",
                "employment",
                "basic_notes",
                "family_relations",
                "neighbour_relations",
                "has_dispute",
                "dispute_kind",
                "dispute_notes",
                "has_needs",
                "need_types",
                "need_notes",
                "suggestion_topics",
                "suggestions"
            ]
        );
    }

    #[test]
    fn four_questions_options_carry_chinese_labels() {
        let form = FormDefinition::four_questions();
        let labels = |id: &str| -> Vec<String> {
            options_of(&form.field(id).unwrap().kind)
                .unwrap()
                .iter()
                .map(|o| o.label.clone())
                .collect()
        };
        assert_eq!(
            labels("household_changes"),
            ["无变化", "出生", "死亡", "迁入", "迁出", "婚姻变化", "其他"]
        );
        assert_eq!(
            labels("need_types"),
            [
                "低保",
                "医保",
                "养老认证",
                "就业帮扶",
                "房屋维修",
                "养老照护",
                "儿童照护",
                "其他"
            ]
        );
        assert_eq!(labels("dispute_kind"), ["家庭", "邻里", "物业", "其他"]);
    }

    #[test]
    fn four_questions_round_trips_through_json() {
        let form = FormDefinition::four_questions();
        let back = FormDefinition::from_json(&form.to_json()).unwrap();
        assert_eq!(back, form);
    }

    #[test]
    fn a_field_serialises_with_its_kind_flattened_in() {
        let form = FormDefinition::four_questions();
        let has_needs = serde_json::to_value(form.field("has_needs").unwrap()).unwrap();
        assert_eq!(
            has_needs,
            json!({"id": "has_needs", "label": "是否有困难或需求", "type": "yes_no",
                   "required": true, "relevant": null})
        );
        let need_types = serde_json::to_value(form.field("need_types").unwrap()).unwrap();
        assert_eq!(need_types["type"], "multi_choice");
        assert_eq!(need_types["min"], 1);
        assert_eq!(
            need_types["relevant"],
            json!({"op": "equals", "field": "has_needs", "value": {"type": "yes_no", "value": true}})
        );
    }

    #[test]
    fn answers_serialise_as_type_and_value() {
        let a = answers(&[
            ("d", date(today())),
            ("y", AnswerValue::YesNo(true)),
            ("m", choices(&["x"])),
        ]);
        let value = serde_json::to_value(&a).unwrap();
        assert_eq!(
            value,
            json!({"d": {"type": "date", "value": "2025-06-15"},
                   "m": {"type": "choices", "value": ["x"]},
                   "y": {"type": "yes_no", "value": true}})
        );
        let back: Answers = serde_json::from_value(value).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn a_quiet_visit_with_only_the_required_answers_is_valid() {
        let form = FormDefinition::four_questions();
        assert_eq!(form.validate(&quiet_visit(), today()), []);
    }

    #[test]
    fn a_fully_answered_visit_is_valid() {
        let form = FormDefinition::four_questions();
        let a = answers(&[
            ("household_changes", choices(&["birth", "moved_in"])),
            ("health", choice("needs_care")),
            ("employment", choice("migrant")),
            ("basic_notes", text("儿子在外地打工,老人独居")),
            ("family_relations", choice("harmonious")),
            ("neighbour_relations", choice("tense")),
            ("has_dispute", AnswerValue::YesNo(true)),
            ("dispute_kind", choice("neighbour")),
            ("dispute_notes", text("楼上漏水")),
            ("has_needs", AnswerValue::YesNo(true)),
            (
                "need_types",
                choices(&["pension_certification", "housing_repair"]),
            ),
            ("need_notes", text("需要上门做养老认证")),
            ("suggestion_topics", choices(&["parking", "benches"])),
            ("suggestions", text("小区自行车乱停")),
        ]);
        assert_eq!(form.validate(&a, today()), []);
    }

    #[test]
    fn missing_required_answers_are_reported_in_form_order() {
        let form = FormDefinition::four_questions();
        let errors = form.validate(&Answers::new(), today());
        assert_eq!(
            codes_of(&errors),
            [
                ("household_changes", "required"),
                ("has_dispute", "required"),
                ("has_needs", "required")
            ]
        );
        assert!(errors.iter().all(|e| e.message == "此项为必填"));
    }

    #[test]
    fn blank_text_and_empty_choices_do_not_satisfy_required() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        a.insert("household_changes".into(), choices(&[]));
        assert_eq!(
            codes_of(&form.validate(&a, today())),
            [("household_changes", "required")]
        );

        let required_text = small_form(json!([
            {"id": "name", "label": "姓名", "type": "text", "required": true}
        ]));
        let f = check_json(required_text).unwrap();
        for blank in ["", "   ", "\u{3000}"] {
            let errors = f.validate(&answers(&[("name", text(blank))]), today());
            assert_eq!(codes_of(&errors), [("name", "required")], "{blank:?}");
        }
    }

    #[test]
    fn dispute_kind_is_required_only_when_there_is_a_dispute() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        assert_eq!(form.validate(&a, today()), []);
        a.insert("has_dispute".into(), AnswerValue::YesNo(true));
        assert_eq!(
            codes_of(&form.validate(&a, today())),
            [("dispute_kind", "required")]
        );
        a.insert("dispute_kind".into(), choice("property"));
        assert_eq!(form.validate(&a, today()), []);
    }

    #[test]
    fn need_types_needs_at_least_one_choice_when_there_are_needs() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        a.insert("has_needs".into(), AnswerValue::YesNo(true));
        assert_eq!(
            codes_of(&form.validate(&a, today())),
            [("need_types", "required")]
        );
        a.insert("need_types".into(), choices(&["minimum_income"]));
        assert_eq!(form.validate(&a, today()), []);
    }

    #[test]
    fn answering_a_field_that_does_not_apply_is_not_applicable() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        a.insert("dispute_kind".into(), choice("family"));
        a.insert("need_notes".into(), text("无"));
        let errors = form.validate(&a, today());
        assert_eq!(
            codes_of(&errors),
            [
                ("dispute_kind", "not_applicable"),
                ("need_notes", "not_applicable")
            ]
        );
    }

    #[test]
    fn a_missing_condition_answer_makes_the_dependent_field_not_apply() {
        let form = FormDefinition::four_questions();
        let a = answers(&[("dispute_kind", choice("family"))]);
        let errors = form.validate(&a, today());
        assert!(
            codes_of(&errors).contains(&("dispute_kind", "not_applicable")),
            "{errors:?}"
        );
        assert!(!form.visible_fields(&a).contains(&"dispute_kind".to_owned()));
    }

    #[test]
    fn a_blank_answer_to_a_field_that_does_not_apply_is_ignored() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        a.insert("dispute_notes".into(), text(""));
        a.insert("need_types".into(), choices(&[]));
        assert_eq!(form.validate(&a, today()), []);
    }

    #[test]
    fn the_four_questions_show_follow_up_fields_only_after_a_yes() {
        let form = FormDefinition::four_questions();
        let always: Vec<String> = form
            .fields()
            .filter(|f| f.relevant.is_none())
            .map(|f| f.id.clone())
            .collect();
        assert_eq!(form.visible_fields(&Answers::new()), always);
        assert_eq!(form.visible_fields(&quiet_visit()), always);

        let mut a = quiet_visit();
        a.insert("has_needs".into(), AnswerValue::YesNo(true));
        let ids = form.visible_fields(&a);
        let pos = |id: &str| ids.iter().position(|x| x == id).unwrap();
        assert_eq!(ids.len(), always.len() + 2);
        // In form order: right after the question that shows them.
        assert_eq!(pos("need_types"), pos("has_needs") + 1);
        assert_eq!(pos("need_notes"), pos("has_needs") + 2);
        assert!(!ids.contains(&"dispute_kind".to_owned()));
    }

    /// A chain across two sections: `visited` shows `problem`; a leak shows `details`; answered
    /// details show `photo_taken`; `why_not` shows while `problem` is not answered.
    fn chained_form() -> FormDefinition {
        check_json(json!({"id": "t", "version": 1, "title": "测试", "sections": [
            {"id": "a", "title": "到访", "fields": [
                yes_no("visited"),
                {"id": "problem", "label": "问题", "type": "single_choice", "required": true,
                 "options": [{"value": "leak", "label": "漏水"}, {"value": "noise", "label": "噪音"}],
                 "relevant": {"op": "equals", "field": "visited",
                              "value": {"type": "yes_no", "value": true}}}
            ]},
            {"id": "b", "title": "详情", "fields": [
                {"id": "details", "label": "详情", "type": "text", "required": true,
                 "relevant": {"op": "equals", "field": "problem",
                              "value": {"type": "choice", "value": "leak"}}},
                {"id": "photo_taken", "label": "已拍照", "type": "yes_no", "required": true,
                 "relevant": {"op": "answered", "field": "details"}},
                {"id": "why_not", "label": "原因", "type": "text",
                 "relevant": {"op": "not", "cond": {"op": "answered", "field": "problem"}}}
            ]}
        ]}))
        .unwrap()
    }

    #[test]
    fn nested_conditions_open_field_by_field_across_sections() {
        let form = chained_form();
        let mut a = Answers::new();
        assert_eq!(form.visible_fields(&a), ["visited", "why_not"]);
        a.insert("visited".into(), AnswerValue::YesNo(true));
        assert_eq!(form.visible_fields(&a), ["visited", "problem", "why_not"]);
        a.insert("problem".into(), choice("leak"));
        assert_eq!(form.visible_fields(&a), ["visited", "problem", "details"]);
        a.insert("details".into(), text("  "));
        assert_eq!(form.visible_fields(&a), ["visited", "problem", "details"]);
        a.insert("details".into(), text("厨房漏水"));
        assert_eq!(
            form.visible_fields(&a),
            ["visited", "problem", "details", "photo_taken"]
        );
        a.insert("problem".into(), choice("noise"));
        assert_eq!(form.visible_fields(&a), ["visited", "problem"]);
    }

    #[test]
    fn a_condition_on_a_hidden_field_sees_it_as_unanswered() {
        let form = chained_form();
        // The worker went down the chain, then said the household was not visited: the kept
        // answers of `problem` and `details` no longer count, so nothing after them shows and
        // `why_not` (problem not answered) does.
        let a = answers(&[
            ("visited", AnswerValue::YesNo(false)),
            ("problem", choice("leak")),
            ("details", text("厨房漏水")),
        ]);
        assert_eq!(form.visible_fields(&a), ["visited", "why_not"]);
        // Each condition on its own would say otherwise: that is what the walk is for.
        let photo = form
            .field("photo_taken")
            .unwrap()
            .relevant
            .as_ref()
            .unwrap();
        assert!(photo.evaluate(&a));

        // Validation agrees: the kept answers do not apply, and `photo_taken` is not required.
        assert_eq!(
            codes_of(&form.validate(&a, today())),
            [("problem", "not_applicable"), ("details", "not_applicable")]
        );
    }

    #[test]
    fn unknown_and_mistyped_answers_show_nothing_extra() {
        let form = chained_form();
        let base = answers(&[("visited", AnswerValue::YesNo(true))]);
        let mut a = base.clone();
        a.insert("no_such_field".into(), AnswerValue::YesNo(true));
        a.insert("".into(), text("x"));
        assert_eq!(form.visible_fields(&a), form.visible_fields(&base));
        // A yes/no where a choice belongs matches no compared value, yet counts as answered.
        a.insert("problem".into(), AnswerValue::YesNo(true));
        assert_eq!(form.visible_fields(&a), ["visited", "problem"]);
        a.insert("visited".into(), text("yes"));
        assert_eq!(form.visible_fields(&a), ["visited", "why_not"]);
    }

    #[test]
    fn a_required_field_is_reported_missing_exactly_when_it_is_shown() {
        let forms = [FormDefinition::four_questions(), chained_form()];
        let samples = [
            Answers::new(),
            quiet_visit(),
            answers(&[("has_dispute", AnswerValue::YesNo(true))]),
            answers(&[
                ("has_needs", AnswerValue::YesNo(true)),
                ("need_notes", text("x")),
            ]),
            answers(&[("visited", AnswerValue::YesNo(true))]),
            answers(&[
                ("visited", AnswerValue::YesNo(true)),
                ("problem", choice("leak")),
            ]),
            answers(&[("problem", choice("leak")), ("details", text("x"))]),
        ];
        for form in &forms {
            for a in &samples {
                let visible = form.visible_fields(a);
                let errors = form.validate(a, today());
                let missing: Vec<&str> = errors
                    .iter()
                    .filter(|e| e.code == codes::REQUIRED)
                    .map(|e| e.field.as_str())
                    .collect();
                let expected: Vec<&str> = form
                    .fields()
                    .filter(|f| f.required && !a.contains_key(&f.id))
                    .filter(|f| visible.contains(&f.id))
                    .map(|f| f.id.as_str())
                    .collect();
                assert_eq!(missing, expected, "{} {a:?}", form.id);
            }
        }
    }

    #[test]
    fn unknown_fields_are_reported_after_the_form_fields() {
        let form = FormDefinition::four_questions();
        let mut a = answers(&[("aaa_first_by_name", text("x"))]);
        a.insert("has_dispute".into(), AnswerValue::YesNo(false));
        a.insert("has_needs".into(), AnswerValue::YesNo(false));
        let errors = form.validate(&a, today());
        assert_eq!(
            codes_of(&errors),
            [
                ("household_changes", "required"),
                ("aaa_first_by_name", "unknown_field")
            ]
        );
    }

    #[test]
    fn an_answer_of_the_wrong_type_is_reported() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        a.insert("has_dispute".into(), text("否"));
        a.insert("health".into(), choices(&["good"]));
        a.insert("basic_notes".into(), AnswerValue::Number(3.0));
        let errors = form.validate(&a, today());
        assert_eq!(
            codes_of(&errors),
            [
                ("health", "wrong_type"),
                ("basic_notes", "wrong_type"),
                ("has_dispute", "wrong_type")
            ]
        );
    }

    #[test]
    fn a_choice_that_is_not_an_option_is_rejected() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        a.insert("health".into(), choice("良好"));
        a.insert("suggestion_topics".into(), choices(&["parking", "ufo"]));
        assert_eq!(
            codes_of(&form.validate(&a, today())),
            [
                ("health", "not_an_option"),
                ("suggestion_topics", "not_an_option")
            ]
        );
    }

    #[test]
    fn choosing_the_same_option_twice_is_invalid() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        a.insert("suggestion_topics".into(), choices(&["parking", "parking"]));
        assert_eq!(
            codes_of(&form.validate(&a, today())),
            [("suggestion_topics", "invalid")]
        );
    }

    #[test]
    fn multi_choice_counts_are_bounded_by_min_and_max() {
        let f = check_json(small_form(json!([
            {"id": "pick", "label": "选择", "type": "multi_choice", "min": 2, "max": 3,
             "options": [{"value": "a", "label": "甲"}, {"value": "b", "label": "乙"},
                         {"value": "c", "label": "丙"}, {"value": "d", "label": "丁"}]}
        ])))
        .unwrap();
        let run = |v: &[&str]| f.validate(&answers(&[("pick", choices(v))]), today());
        assert_eq!(codes_of(&run(&["a"])), [("pick", "too_few")]);
        assert_eq!(run(&["a", "b"]), []);
        assert_eq!(run(&["a", "b", "c"]), []);
        assert_eq!(
            codes_of(&run(&["a", "b", "c", "d"])),
            [("pick", "too_many")]
        );
        assert_eq!(run(&["a"])[0].message, "至少选择 2 项");
    }

    #[test]
    fn text_length_counts_characters_not_bytes() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        a.insert("suggestions".into(), text(&"水".repeat(500)));
        assert_eq!(form.validate(&a, today()), []);
        a.insert("suggestions".into(), text(&"水".repeat(501)));
        let errors = form.validate(&a, today());
        assert_eq!(codes_of(&errors), [("suggestions", "too_long")]);
        assert_eq!(errors[0].message, "内容过长,最多 500 字");
    }

    #[test]
    fn text_shorter_than_min_len_is_too_short() {
        let f = check_json(small_form(json!([
            {"id": "addr", "label": "地址", "type": "text", "min_len": 4, "max_len": 10}
        ])))
        .unwrap();
        let run = |s: &str| {
            codes_of(&f.validate(&answers(&[("addr", text(s))]), today()))
                .into_iter()
                .map(|(_, c)| c.to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(run("3号楼"), ["too_short"]);
        assert_eq!(run("  3号楼  "), ["too_short"]);
        assert_eq!(run("3号楼2单元"), Vec::<String>::new());
    }

    #[test]
    fn error_messages_never_echo_the_answer() {
        let form = FormDefinition::four_questions();
        let secret = "张三的身份证620102199001011234";
        let mut a = quiet_visit();
        a.insert("suggestions".into(), text(&secret.repeat(40)));
        a.insert("health".into(), choice(secret));
        a.insert("dispute_notes".into(), text(secret));
        let errors = form.validate(&a, today());
        assert_eq!(errors.len(), 3);
        for e in &errors {
            assert!(!e.message.contains("张三"), "{e:?}");
            assert!(!e.message.contains("6201"), "{e:?}");
        }
    }

    #[test]
    fn each_field_reports_at_most_one_error() {
        let form = FormDefinition::four_questions();
        let mut a = quiet_visit();
        a.insert("need_types".into(), choices(&["ufo", "ufo"]));
        let errors = form.validate(&a, today());
        assert_eq!(codes_of(&errors), [("need_types", "not_applicable")]);
    }

    fn number_form(integer: bool) -> FormDefinition {
        check_json(small_form(json!([
            {"id": "n", "label": "数量", "type": "number", "min": 0, "max": 12.5,
             "integer": integer}
        ])))
        .unwrap()
    }

    fn number_codes(form: &FormDefinition, n: f64) -> Vec<String> {
        form.validate(&answers(&[("n", AnswerValue::Number(n))]), today())
            .into_iter()
            .map(|e| e.code)
            .collect()
    }

    #[test]
    fn numbers_outside_the_range_are_out_of_range() {
        let f = number_form(false);
        assert_eq!(number_codes(&f, 0.0), Vec::<String>::new());
        assert_eq!(number_codes(&f, 12.5), Vec::<String>::new());
        assert_eq!(number_codes(&f, -0.5), ["out_of_range"]);
        assert_eq!(number_codes(&f, 13.0), ["out_of_range"]);
    }

    #[test]
    fn integer_fields_reject_fractions() {
        let f = number_form(true);
        assert_eq!(number_codes(&f, 3.0), Vec::<String>::new());
        assert_eq!(number_codes(&f, 3.5), ["not_integer"]);
    }

    #[test]
    fn numbers_that_are_not_finite_are_invalid() {
        let f = number_form(false);
        for n in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(number_codes(&f, n), ["invalid"], "{n}");
        }
    }

    #[test]
    fn future_dates_are_rejected_unless_the_field_allows_them() {
        let f = check_json(small_form(json!([
            {"id": "visited", "label": "走访日期", "type": "date"},
            {"id": "expires", "label": "有效期至", "type": "date", "allow_future": true}
        ])))
        .unwrap();
        let tomorrow = today().succ_opt().unwrap();
        let ok = answers(&[("visited", date(today())), ("expires", date(tomorrow))]);
        assert_eq!(f.validate(&ok, today()), []);
        let bad = answers(&[("visited", date(tomorrow))]);
        assert_eq!(
            codes_of(&f.validate(&bad, today())),
            [("visited", "future_date")]
        );
    }

    #[test]
    fn a_malformed_date_string_is_invalid_and_a_blank_one_is_not_given() {
        let f = check_json(small_form(json!([
            {"id": "visited", "label": "走访日期", "type": "date", "required": true}
        ])))
        .unwrap();
        for bad in [
            "2025-6-1",
            "2025-02-30",
            "15/06/2025",
            "2025-06-15T08:00:00",
            " 2025-06-01",
            "昨天",
        ] {
            let a = answers(&[("visited", AnswerValue::Date(bad.to_owned()))]);
            let errors = f.validate(&a, today());
            assert_eq!(codes_of(&errors), [("visited", "invalid")], "{bad}");
            assert!(
                !errors[0].message.contains(bad),
                "the message must not echo the answer"
            );
        }
        let blank = answers(&[("visited", AnswerValue::Date("  ".to_owned()))]);
        assert_eq!(
            codes_of(&f.validate(&blank, today())),
            [("visited", "required")]
        );
        let ok = answers(&[("visited", AnswerValue::Date("2025-06-01".to_owned()))]);
        assert_eq!(f.validate(&ok, today()), []);
    }

    #[test]
    fn id_number_and_phone_fields_are_checked_with_the_value_rules() {
        let f = check_json(small_form(json!([
            {"id": "id_no", "label": "身份证号", "type": "id_number"},
            {"id": "tel", "label": "联系电话", "type": "phone"}
        ])))
        .unwrap();
        let ok = answers(&[
            ("id_no", text("11010519491231002x")),
            ("tel", text("138 0013 8000")),
        ]);
        assert_eq!(f.validate(&ok, today()), []);
        let bad = answers(&[
            ("id_no", text("110105194912310021")),
            ("tel", text("1380013800")),
        ]);
        let errors = f.validate(&bad, today());
        assert_eq!(
            codes_of(&errors),
            [("id_no", "invalid"), ("tel", "invalid")]
        );
        assert_eq!(errors[0].message, "身份证号码校验位不正确,请核对");
        assert!(!errors[1].message.contains("138"));
    }

    #[test]
    fn conditions_combine_as_documented() {
        let a = answers(&[
            ("topics", choices(&["parking", "heating"])),
            ("health", choice("poor")),
            ("note", text("")),
        ]);
        let eq = |f: &str, v: AnswerValue| Condition::Equals {
            field: f.into(),
            value: v,
        };
        let contains = |v: &str| Condition::Contains {
            field: "topics".into(),
            value: v.into(),
        };
        assert!(contains("heating").evaluate(&a));
        assert!(!contains("benches").evaluate(&a));
        assert!(
            Condition::AnyOf {
                field: "health".into(),
                values: vec![choice("fair"), choice("poor")]
            }
            .evaluate(&a)
        );
        assert!(
            !Condition::AnyOf {
                field: "missing".into(),
                values: vec![choice("poor")]
            }
            .evaluate(&a)
        );
        assert!(
            Condition::Answered {
                field: "topics".into()
            }
            .evaluate(&a)
        );
        assert!(
            !Condition::Answered {
                field: "note".into()
            }
            .evaluate(&a)
        );
        assert!(
            !Condition::Answered {
                field: "missing".into()
            }
            .evaluate(&a)
        );
        assert!(!eq("missing", AnswerValue::YesNo(false)).evaluate(&a));
        assert!(
            Condition::Not {
                cond: Box::new(eq("missing", AnswerValue::YesNo(true)))
            }
            .evaluate(&a)
        );
        let both = Condition::All {
            conds: vec![contains("parking"), eq("health", choice("poor"))],
        };
        assert!(both.evaluate(&a));
        let one = Condition::Any {
            conds: vec![contains("benches"), eq("health", choice("good"))],
        };
        assert!(!one.evaluate(&a));
    }

    #[test]
    fn json_forms_may_leave_out_optional_keys() {
        let f = check_json(small_form(json!([
            {"id": "ok", "label": "是否正常", "type": "yes_no"},
            {"id": "n", "label": "说明", "type": "text"}
        ])))
        .unwrap();
        let ok = f.field("ok").unwrap();
        assert!(!ok.required);
        assert_eq!(ok.relevant, None);
        assert_eq!(ok.hint, None);
        assert_eq!(
            f.field("n").unwrap().kind,
            FieldKind::Text {
                max_len: None,
                min_len: None
            }
        );
    }

    /// A form that is not the four questions, written by an office as JSON only.
    const FIRE_SAFETY: &str = r#"{
      "id": "fire_safety_check", "version": 3, "title": "消防安全检查",
      "sections": [
        {"id": "equipment", "title": "消防设施", "fields": [
          {"id": "extinguishers", "label": "灭火器数量", "type": "number",
           "min": 0, "max": 50, "integer": true, "required": true},
          {"id": "extinguisher_expiry", "label": "灭火器有效期至", "type": "date",
           "allow_future": true,
           "relevant": {"op": "not", "cond": {"op": "equals", "field": "extinguishers",
                                              "value": {"type": "number", "value": 0}}}},
          {"id": "smoke_alarm", "label": "是否安装烟感报警器", "type": "yes_no", "required": true}
        ]},
        {"id": "hazards", "title": "隐患排查", "fields": [
          {"id": "hazards", "label": "发现的隐患", "type": "multi_choice",
           "options": [{"value": "blocked_exit", "label": "楼道堵塞"},
                       {"value": "ebike_charging", "label": "电动车入户充电"},
                       {"value": "wiring", "label": "私拉乱接电线"}]},
          {"id": "rectify_by", "label": "整改期限", "type": "date", "allow_future": true,
           "required": true,
           "relevant": {"op": "answered", "field": "hazards"}},
          {"id": "inspected_on", "label": "检查日期", "type": "date", "required": true},
          {"id": "contact", "label": "户主联系电话", "type": "phone",
           "hint": "仅用于整改通知"}
        ]}
      ]
    }"#;

    #[test]
    fn a_new_form_can_be_defined_purely_as_json_and_validated() {
        let form = FormDefinition::from_json(FIRE_SAFETY).unwrap();
        assert_eq!((form.id.as_str(), form.version), ("fire_safety_check", 3));
        let date = |y, m, d| date(NaiveDate::from_ymd_opt(y, m, d).unwrap());

        let good = answers(&[
            ("extinguishers", AnswerValue::Number(2.0)),
            ("extinguisher_expiry", date(2027, 1, 1)),
            ("smoke_alarm", AnswerValue::YesNo(true)),
            ("hazards", choices(&["ebike_charging"])),
            ("rectify_by", date(2025, 7, 1)),
            ("inspected_on", date(2025, 6, 15)),
            ("contact", text("0931-8123456")),
        ]);
        assert_eq!(form.validate(&good, today()), []);

        let bad = answers(&[
            ("extinguishers", AnswerValue::Number(0.0)),
            ("extinguisher_expiry", date(2027, 1, 1)),
            ("hazards", choices(&["wiring"])),
            ("inspected_on", date(2025, 6, 16)),
            ("contact", text("电话")),
        ]);
        assert_eq!(
            codes_of(&form.validate(&bad, today())),
            [
                ("extinguisher_expiry", "not_applicable"),
                ("smoke_alarm", "required"),
                ("rectify_by", "required"),
                ("inspected_on", "future_date"),
                ("contact", "invalid")
            ]
        );

        let fractional = answers(&[("extinguishers", AnswerValue::Number(1.5))]);
        assert!(
            codes_of(&form.validate(&fractional, today()))
                .contains(&("extinguishers", "not_integer"))
        );
        assert_eq!(FormDefinition::from_json(&form.to_json()).unwrap(), form);
    }

    fn definition_error(fields: serde_json::Value) -> String {
        match check_json(small_form(fields)) {
            Ok(_) => panic!("definition should have been rejected"),
            Err(e) => e.to_string(),
        }
    }

    fn yes_no(id: &str) -> serde_json::Value {
        json!({"id": id, "label": "问题", "type": "yes_no"})
    }

    #[test]
    fn malformed_json_is_rejected_without_panicking() {
        for bad in [
            "",
            "{",
            "[]",
            "null",
            r#"{"id": "x"}"#,
            r#"{"id":"x","version":-1,"title":"t","sections":[]}"#,
        ] {
            assert!(
                matches!(FormDefinition::from_json(bad), Err(FormError::Json(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_field_with_an_unknown_type_is_rejected() {
        let e = definition_error(json!([{"id": "a", "label": "问", "type": "slider"}]));
        assert!(e.contains("JSON"), "{e}");
    }

    #[test]
    fn deeply_nested_conditions_are_rejected_not_a_stack_overflow() {
        let mut cond = r#"{"op":"answered","field":"a"}"#.to_owned();
        for _ in 0..5000 {
            cond = format!(r#"{{"op":"not","cond":{cond}}}"#);
        }
        let json = format!(
            r#"{{"id":"t","version":1,"title":"t","sections":[{{"id":"s","title":"s","fields":[
               {{"id":"a","label":"a","type":"yes_no"}},
               {{"id":"b","label":"b","type":"yes_no","relevant":{cond}}}]}}]}}"#
        );
        assert!(matches!(
            FormDefinition::from_json(&json),
            Err(FormError::Json(_))
        ));
    }

    #[test]
    fn a_form_without_fields_is_rejected() {
        let e = check_json(json!({"id": "t", "version": 1, "title": "空", "sections": []}));
        assert!(matches!(e, Err(FormError::NoFields)));
    }

    #[test]
    fn empty_ids_and_labels_are_rejected() {
        let e = definition_error(json!([{"id": " ", "label": "问", "type": "yes_no"}]));
        assert!(e.contains("field id"), "{e}");
        let e = definition_error(json!([{"id": "q", "label": "", "type": "yes_no"}]));
        assert!(e.contains("label of field `q`"), "{e}");
    }

    #[test]
    fn duplicate_field_ids_are_rejected_even_across_sections() {
        let json = json!({"id": "t", "version": 1, "title": "t", "sections": [
            {"id": "a", "title": "甲", "fields": [yes_no("same")]},
            {"id": "b", "title": "乙", "fields": [yes_no("same")]}
        ]});
        let e = check_json(json).unwrap_err();
        assert!(matches!(&e, FormError::DuplicateField(f) if f == "same"));
        assert!(e.to_string().contains("`same`"));
    }

    #[test]
    fn duplicate_section_ids_are_rejected() {
        let json = json!({"id": "t", "version": 1, "title": "t", "sections": [
            {"id": "a", "title": "甲", "fields": [yes_no("x")]},
            {"id": "a", "title": "乙", "fields": [yes_no("y")]}
        ]});
        assert!(matches!(check_json(json), Err(FormError::DuplicateSection(s)) if s == "a"));
    }

    #[test]
    fn choice_fields_need_distinct_options() {
        let e = definition_error(json!([
            {"id": "c", "label": "选", "type": "single_choice", "options": []}
        ]));
        assert!(e.contains("field `c` has no options"), "{e}");
        let e = definition_error(json!([
            {"id": "c", "label": "选", "type": "multi_choice",
             "options": [{"value": "a", "label": "甲"}, {"value": "a", "label": "乙"}]}
        ]));
        assert!(e.contains("field `c` repeats option `a`"), "{e}");
    }

    #[test]
    fn impossible_bounds_are_rejected() {
        for (fields, name) in [
            (
                json!([{"id": "n", "label": "数", "type": "number", "min": 5, "max": 1}]),
                "n",
            ),
            (
                json!([{"id": "t", "label": "文", "type": "text", "min_len": 9, "max_len": 3}]),
                "t",
            ),
            (
                json!([{"id": "m", "label": "多", "type": "multi_choice", "min": 3, "max": 2,
                        "options": [{"value": "a", "label": "甲"}]}]),
                "m",
            ),
            (
                json!([{"id": "m", "label": "多", "type": "multi_choice", "min": 2,
                        "options": [{"value": "a", "label": "甲"}]}]),
                "m",
            ),
        ] {
            let e = definition_error(fields);
            assert!(
                e.contains(&format!("field `{name}` has an invalid range")),
                "{e}"
            );
        }
    }

    #[test]
    fn non_finite_number_bounds_built_in_code_are_rejected() {
        let mut form = FormDefinition::four_questions();
        form.sections[0].fields.push(field(
            "n",
            "数",
            FieldKind::Number {
                min: Some(f64::NAN),
                max: None,
                integer: false,
            },
        ));
        assert!(matches!(form.check(), Err(FormError::InvalidRange { .. })));
    }

    #[test]
    fn a_condition_on_an_unknown_field_is_rejected() {
        let e = definition_error(json!([
            {"id": "b", "label": "问", "type": "yes_no",
             "relevant": {"op": "answered", "field": "nowhere"}}
        ]));
        assert!(
            e.contains("field `b` condition refers to unknown field `nowhere`"),
            "{e}"
        );
    }

    #[test]
    fn a_condition_on_itself_or_a_later_field_is_rejected() {
        let e = definition_error(json!([
            {"id": "a", "label": "问", "type": "yes_no",
             "relevant": {"op": "answered", "field": "b"}},
            yes_no("b")
        ]));
        assert!(
            e.contains("field `a` condition must refer to an earlier field, not `b`"),
            "{e}"
        );
        let e = definition_error(json!([
            {"id": "a", "label": "问", "type": "yes_no",
             "relevant": {"op": "not", "cond": {"op": "answered", "field": "a"}}}
        ]));
        assert!(e.contains("not `a`"), "{e}");
    }

    #[test]
    fn a_condition_that_can_never_match_is_rejected() {
        let choice_field = json!({"id": "c", "label": "选", "type": "single_choice",
                                  "options": [{"value": "x", "label": "X"}]});
        let with = |relevant: serde_json::Value| {
            definition_error(json!([
                choice_field.clone(),
                {"id": "d", "label": "问", "type": "yes_no", "relevant": relevant}
            ]))
        };
        // Wrong answer type: a choice compared with a yes/no.
        let e = with(json!({"op": "equals", "field": "c",
                            "value": {"type": "yes_no", "value": true}}));
        assert!(e.contains("field `d` has an invalid condition"), "{e}");
        // An option the field does not have.
        let e = with(json!({"op": "any_of", "field": "c",
                            "values": [{"type": "choice", "value": "y"}]}));
        assert!(e.contains("has no option `y`"), "{e}");
        // `contains` is for multi-choice fields, and only for their options.
        let e = with(json!({"op": "contains", "field": "c", "value": "x"}));
        assert!(e.contains("not a multi choice"), "{e}");
        let e = definition_error(json!([
            {"id": "m", "label": "多", "type": "multi_choice",
             "options": [{"value": "x", "label": "X"}]},
            {"id": "d", "label": "问", "type": "yes_no",
             "relevant": {"op": "contains", "field": "m", "value": "z"}}
        ]));
        assert!(e.contains("`m` has no option `z`"), "{e}");
        // Empty combinators.
        let e = with(json!({"op": "any", "conds": []}));
        assert!(e.contains("no conditions"), "{e}");
        let e = with(json!({"op": "any_of", "field": "c", "values": []}));
        assert!(e.contains("no values"), "{e}");
    }

    #[test]
    fn a_well_formed_condition_on_an_earlier_field_is_accepted() {
        let f = check_json(small_form(json!([
            {"id": "c", "label": "选", "type": "multi_choice",
             "options": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}]},
            {"id": "d", "label": "问", "type": "yes_no",
             "relevant": {"op": "all", "conds": [
                 {"op": "contains", "field": "c", "value": "y"},
                 {"op": "not", "cond": {"op": "equals", "field": "c",
                                        "value": {"type": "choices", "value": ["x"]}}}]}}
        ])))
        .unwrap();
        let shown = answers(&[("c", choices(&["y"])), ("d", AnswerValue::YesNo(true))]);
        assert_eq!(f.validate(&shown, today()), []);
        let hidden = answers(&[("c", choices(&["x"])), ("d", AnswerValue::YesNo(true))]);
        assert_eq!(
            codes_of(&f.validate(&hidden, today())),
            [("d", "not_applicable")]
        );
    }
}
