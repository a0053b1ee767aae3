//! A realistic, deterministic demo community: the roster, residents and visits used by the
//! server's demo, the benchmarks and the tests.
//!
//! Everything comes from a seeded generator, so two runs build the same community. The people
//! are invented; ID numbers carry valid GB 11643 check characters and plausible birth dates.

use std::collections::HashMap;

use crate::form::AnswerValue;
use crate::model::*;
use crate::validate;

/// A small deterministic generator (xorshift64*): no dependency, same sequence everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / ((1u64 << 53) as f64) < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "马", "郭", "何", "罗", "梁", "宋",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建国", "文", "玉兰",
];
const ETHNICITIES: &[&str] = &["汉族", "汉族", "汉族", "回族", "藏族", "土族"];

/// A demo community: `grids` grids of `households_per_grid` households in 6-storey buildings
/// of 2 units, 2 doors a floor (24 households a building).
pub fn roster(grids: usize, households_per_grid: usize, seed: u64) -> RosterInput {
    let mut rng = Rng::new(seed);
    let mut r = RosterInput {
        community_name: "安居苑社区".into(),
        grids: Vec::new(),
        buildings: Vec::new(),
        households: Vec::new(),
    };
    let mut building_no = 0;
    for g in 0..grids {
        let grid_id = format!("g{}", g + 1);
        r.grids.push(GridInput {
            id: grid_id.clone(),
            name: format!("第{}网格", g + 1),
        });
        let mut left = households_per_grid;
        while left > 0 {
            building_no += 1;
            let building_id = format!("b{building_no}");
            r.buildings.push(BuildingInput {
                id: building_id.clone(),
                grid_id: grid_id.clone(),
                name: format!("{building_no}号楼"),
                units: 2,
            });
            'floors: for unit in 1..=2 {
                for floor in 1..=6 {
                    for door in 1..=2 {
                        if left == 0 {
                            break 'floors;
                        }
                        left -= 1;
                        let mut care_tags = Vec::new();
                        if rng.chance(0.08) {
                            care_tags.push(CareTag::ElderlyAlone);
                        }
                        if rng.chance(0.04) {
                            care_tags.push(CareTag::Dibao);
                        }
                        if rng.chance(0.03) {
                            care_tags.push(CareTag::LeftBehindChild);
                        }
                        if rng.chance(0.03) {
                            care_tags.push(CareTag::Disabled);
                        }
                        r.households.push(HouseholdInput {
                            id: Some(format!("h-{building_id}-{unit}-{floor}0{door}")),
                            building_id: building_id.clone(),
                            unit: unit.to_string(),
                            door: format!("{floor}0{door}"),
                            address: format!(
                                "安居苑小区{building_no}号楼{unit}单元{floor}0{door}室"
                            ),
                            area_m2: Some(60.0 + rng.below(60) as f64),
                            occupancy: if rng.chance(0.1) {
                                Occupancy::Rented
                            } else {
                                Occupancy::Owner
                            },
                            care_tags,
                            notes: String::new(),
                        });
                    }
                }
            }
        }
    }
    r
}

/// A valid 18-character ID number for someone born on `birth` (`YYYYMMDD`).
pub fn id_number(rng: &mut Rng, birth: &str) -> String {
    let first17 = format!("620102{birth}{:03}", rng.below(1000));
    let check = validate::id_check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// A household's residents: a head, often a spouse, sometimes children or a parent.
pub fn residents(rng: &mut Rng) -> Vec<ResidentInput> {
    let surname = *rng.pick(SURNAMES);
    let ethnicity = *rng.pick(ETHNICITIES);
    let mut out = Vec::new();
    let head_year = 1945 + rng.below(55);
    let person = |rng: &mut Rng, relation: &str, year: u64, surname: &str| {
        let birth = format!("{year}{:02}{:02}", 1 + rng.below(12), 1 + rng.below(28));
        ResidentInput {
            name: format!("{surname}{}", rng.pick(GIVEN)),
            gender: if rng.chance(0.5) {
                Gender::Male
            } else {
                Gender::Female
            },
            birth_date: Some(format!("{}-{}-{}", &birth[..4], &birth[4..6], &birth[6..])),
            id_number: Some(id_number(rng, &birth)),
            phone: Some(format!(
                "13{}{:08}",
                3 + rng.below(7),
                rng.below(100_000_000)
            )),
            ethnicity: Some(ethnicity.to_string()),
            relation: relation.to_string(),
            employment: Some(
                rng.pick(&["稳定就业", "灵活就业", "退休", "外出务工"])
                    .to_string(),
            ),
            working_away: rng.chance(0.15),
            work_place: None,
            moved_in: None,
        }
    };
    out.push(person(rng, "户主", head_year, surname));
    if rng.chance(0.7) {
        let s = *rng.pick(SURNAMES);
        let year = head_year + rng.below(4);
        out.push(person(rng, "配偶", year, s));
    }
    let children = rng.below(3);
    for _ in 0..children {
        let year = (head_year + 25 + rng.below(8)).min(2020);
        out.push(person(rng, "子女", year, surname));
    }
    out
}

/// Four-question answers as a grid worker fills them at a typical visit.
pub fn answers(rng: &mut Rng) -> HashMap<String, AnswerValue> {
    let mut a = HashMap::new();
    a.insert(
        "household_changes".into(),
        AnswerValue::Choices(vec!["none".into()]),
    );
    a.insert(
        "health".into(),
        AnswerValue::Choice(rng.pick(&["good", "fair", "poor"]).to_string()),
    );
    a.insert(
        "family_relations".into(),
        AnswerValue::Choice("harmonious".into()),
    );
    a.insert("has_dispute".into(), AnswerValue::YesNo(false));
    let needs = rng.chance(0.2);
    a.insert("has_needs".into(), AnswerValue::YesNo(needs));
    if needs {
        a.insert(
            "need_types".into(),
            AnswerValue::Choices(vec![
                rng.pick(&["housing_repair", "minimum_income", "elderly_care"])
                    .to_string(),
            ]),
        );
        a.insert(
            "need_notes".into(),
            AnswerValue::Text("卫生间漏水,需要联系物业维修".into()),
        );
    }
    if rng.chance(0.3) {
        a.insert(
            "suggestion_topics".into(),
            AnswerValue::Choices(vec!["parking".into()]),
        );
        a.insert(
            "suggestions".into(),
            AnswerValue::Text("小区电动车停放混乱,建议增设充电车棚".into()),
        );
    }
    a
}

/// A met-at-home visit of `household_id` starting at `started_ms`, lasting 15 minutes.
pub fn visit(rng: &mut Rng, household_id: &str, started_ms: i64) -> VisitInput {
    VisitInput {
        household_id: household_id.to_string(),
        started_ms,
        ended_ms: started_ms + 15 * 60 * 1000,
        outcome: VisitOutcome::Met,
        present: Vec::new(),
        location: Some(Location {
            lat: 36.5 + rng.below(1000) as f64 / 1e5,
            lon: 113.9 + rng.below(1000) as f64 / 1e5,
            accuracy_m: 12.0,
        }),
        form_id: "four_questions".into(),
        form_version: 1,
        answers: answers(rng),
        needs: Vec::new(),
        photos: Vec::new(),
        notes: "入户走访,住户情况稳定".into(),
    }
}
