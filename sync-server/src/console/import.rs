//! Roster import from Excel (.xlsx) or CSV (UTF-8, or GBK as Excel saves it in China).
//!
//! Every row is validated first; any error gives a report with the row, the column and what is
//! wrong, and nothing is imported. A clean file goes to [`gridwalk_core::Store::load_roster`] in
//! one transaction, which matches households by building/unit/door, so importing the same file
//! again updates instead of duplicating.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;

use axum::extract::{Multipart, State};
use calamine::{Data, Reader, Xlsx};
use gridwalk_core::{BuildingInput, CareTag, GridInput, HouseholdInput, Occupancy, RosterInput};
use maud::html;

use super::auth::Staff;
use super::layout::{self, csrf, page};
use super::{ConsoleState, Fail, Page, blocking};
use crate::error::Error;

/// Column headers: (header, required).
pub const COLUMNS: &[(&str, bool)] = &[
    ("网格编号", true),
    ("网格名称", true),
    ("楼栋编号", true),
    ("楼栋名称", true),
    ("单元", true),
    ("门牌号", true),
    ("地址", true),
    ("面积", false),
    ("居住状态", false),
    ("关爱标签", false),
    ("备注", false),
    ("住户编号", false),
];
/// Most data rows in one file.
const MAX_ROWS: usize = 100_000;
/// Errors listed before the report stops counting.
const MAX_ERRORS: usize = 500;

/// One problem in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Spreadsheet row (the header is row 1).
    pub row: usize,
    /// Column header ("" for the whole row).
    pub column: String,
    /// What is wrong (Chinese).
    pub message: String,
}

fn err(row: usize, column: &str, message: impl Into<String>) -> RowError {
    RowError {
        row,
        column: column.to_string(),
        message: message.into(),
    }
}

/// The rows of a file as text cells (xlsx by its ZIP signature, else CSV).
pub fn read_table(bytes: &[u8]) -> Result<Vec<Vec<String>>, RowError> {
    if bytes.starts_with(b"PK\x03\x04") {
        read_xlsx(bytes)
    } else {
        Ok(read_csv(&decode_text(bytes)))
    }
}

fn read_xlsx(bytes: &[u8]) -> Result<Vec<Vec<String>>, RowError> {
    let bad = |_| err(0, "", "无法读取 Excel 文件,请确认是 .xlsx 格式");
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(bad)?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or_else(|| err(0, "", "Excel 文件中没有工作表"))?
        .map_err(|_| err(0, "", "无法读取第一个工作表"))?;
    Ok(range
        .rows()
        .map(|r| r.iter().map(cell_text).collect())
        .collect())
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        // Door numbers typed as numbers come back as floats: 301.0 → "301".
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string().trim().to_string(),
    }
}

/// UTF-8 (a BOM is dropped), else GBK (Excel's "CSV" in Chinese Windows).
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::GBK.decode(bytes).0.into_owned(),
    }
}

/// Parses CSV (RFC 4180: quotes, doubled quotes, newlines inside quotes; `,` or Tab).
pub fn read_csv(text: &str) -> Vec<Vec<String>> {
    let sep = match text.lines().next() {
        Some(l) if l.contains('\t') && !l.contains(',') => '\t',
        _ => ',',
    };
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    cell.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                c => cell.push(c),
            }
            continue;
        }
        match c {
            '"' if cell.is_empty() => quoted = true,
            c if c == sep => row.push(std::mem::take(&mut cell).trim().to_string()),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut cell).trim().to_string());
                rows.push(std::mem::take(&mut row));
            }
            c => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell.trim().to_string());
        rows.push(row);
    }
    rows
}

fn parse_occupancy(s: &str) -> Option<Occupancy> {
    match s {
        "" | "自住" | "owner" => Some(Occupancy::Owner),
        "出租" | "rented" => Some(Occupancy::Rented),
        "空置" | "vacant" => Some(Occupancy::Vacant),
        _ => None,
    }
}

fn parse_care_tag(s: &str) -> Option<CareTag> {
    Some(match s {
        "独居老人" | "空巢老人" | "独居/空巢老人" | "独居" | "空巢" => {
            CareTag::ElderlyAlone
        }
        "留守儿童" => CareTag::LeftBehindChild,
        "残疾人" | "残疾" => CareTag::Disabled,
        "低保" | "低保户" => CareTag::Dibao,
        "五保" | "五保户" => CareTag::Wubao,
        "重病" | "大病" => CareTag::SevereIllness,
        "其他" | "其他关爱对象" => CareTag::Other,
        other => return CareTag::parse(other),
    })
}

fn check_id_cell(row: usize, col: &str, v: &str, errors: &mut Vec<RowError>) {
    if v.chars().count() > 64 || v.chars().any(char::is_control) {
        errors.push(err(row, col, "编号过长或含有非法字符"));
    }
}

/// Validates a table (header first) and builds the roster; every problem is reported with its
/// row, and no roster is returned if there is any.
pub fn parse_roster(
    table: &[Vec<String>],
    community_name: &str,
) -> Result<(RosterInput, Vec<usize>), Vec<RowError>> {
    let mut errors = Vec::new();
    let Some(header) = table.first() else {
        return Err(vec![err(1, "", "文件是空的")]);
    };
    let mut col: HashMap<&str, usize> = HashMap::new();
    for (name, required) in COLUMNS {
        match header.iter().position(|h| h.trim() == *name) {
            Some(i) => {
                col.insert(name, i);
            }
            None if *required => errors.push(err(1, name, "缺少此列")),
            None => {}
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if table.len() - 1 > MAX_ROWS {
        return Err(vec![err(1, "", format!("行数超过上限 {MAX_ROWS}"))]);
    }
    let get = |r: &[String], name: &str| -> String {
        col.get(name)
            .and_then(|&i| r.get(i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut grids: Vec<GridInput> = Vec::new();
    let mut grid_names: HashMap<String, (String, usize)> = HashMap::new();
    let mut buildings: Vec<BuildingInput> = Vec::new();
    let mut building_seen: HashMap<String, (String, String, usize)> = HashMap::new();
    let mut units: HashMap<String, HashSet<String>> = HashMap::new();
    let mut doors: HashMap<(String, String, String), usize> = HashMap::new();
    let mut households = Vec::new();
    let mut rows_of = Vec::new();
    for (i, r) in table.iter().enumerate().skip(1) {
        let row = i + 1;
        if r.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let before = errors.len();
        for (name, required) in COLUMNS {
            if *required && get(r, name).is_empty() {
                errors.push(err(row, name, "必填项为空"));
            }
        }
        let (grid_id, grid_name) = (get(r, "网格编号"), get(r, "网格名称"));
        let (building_id, building_name) = (get(r, "楼栋编号"), get(r, "楼栋名称"));
        let (unit, door, address) = (get(r, "单元"), get(r, "门牌号"), get(r, "地址"));
        for (c, v) in [
            ("网格编号", &grid_id),
            ("楼栋编号", &building_id),
            ("单元", &unit),
            ("门牌号", &door),
        ] {
            check_id_cell(row, c, v, &mut errors);
        }
        if address.chars().count() > 200 {
            errors.push(err(row, "地址", "地址过长(最多 200 字)"));
        }
        let area_text = get(r, "面积");
        let area = if area_text.is_empty() {
            None
        } else {
            match area_text
                .trim_end_matches(['㎡', 'm', '²', '2'])
                .trim()
                .parse::<f64>()
            {
                Ok(a) if a > 0.0 && a <= 10_000.0 => Some(a),
                _ => {
                    errors.push(err(row, "面积", "面积须为 0–10000 之间的数字(平方米)"));
                    None
                }
            }
        };
        let occupancy = parse_occupancy(&get(r, "居住状态")).unwrap_or_else(|| {
            errors.push(err(row, "居住状态", "居住状态须为 自住、出租 或 空置"));
            Occupancy::Owner
        });
        let mut care_tags = Vec::new();
        for t in get(r, "关爱标签")
            .split(['、', ',', ',', ';', ';', '/', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            match parse_care_tag(t) {
                Some(tag) if !care_tags.contains(&tag) => care_tags.push(tag),
                Some(_) => {}
                None => errors.push(err(row, "关爱标签", format!("未知的关爱标签“{t}”"))),
            }
        }
        if !grid_id.is_empty() {
            match grid_names.get(&grid_id) {
                Some((n, first)) if *n != grid_name => errors.push(err(
                    row,
                    "网格名称",
                    format!("与第 {first} 行同一网格编号的名称不一致"),
                )),
                Some(_) => {}
                None => {
                    grid_names.insert(grid_id.clone(), (grid_name.clone(), row));
                    grids.push(GridInput {
                        id: grid_id.clone(),
                        name: grid_name.clone(),
                    });
                }
            }
        }
        if !building_id.is_empty() {
            match building_seen.get(&building_id) {
                Some((g, _, first)) if *g != grid_id => errors.push(err(
                    row,
                    "网格编号",
                    format!("楼栋 {building_id} 在第 {first} 行属于另一个网格"),
                )),
                Some((_, n, first)) if *n != building_name => errors.push(err(
                    row,
                    "楼栋名称",
                    format!("与第 {first} 行同一楼栋编号的名称不一致"),
                )),
                Some(_) => {}
                None => {
                    building_seen.insert(
                        building_id.clone(),
                        (grid_id.clone(), building_name.clone(), row),
                    );
                    buildings.push(BuildingInput {
                        id: building_id.clone(),
                        grid_id: grid_id.clone(),
                        name: building_name.clone(),
                        units: 1,
                    });
                }
            }
            units
                .entry(building_id.clone())
                .or_default()
                .insert(unit.clone());
        }
        let key = (building_id.clone(), unit.clone(), door.clone());
        if let Some(first) = doors.get(&key) {
            errors.push(err(
                row,
                "门牌号",
                format!("与第 {first} 行重复(同一楼栋、单元、门牌号)"),
            ));
        } else {
            doors.insert(key, row);
        }
        let id = get(r, "住户编号");
        check_id_cell(row, "住户编号", &id, &mut errors);
        if errors.len() == before {
            households.push(HouseholdInput {
                id: (!id.is_empty()).then_some(id),
                building_id,
                unit,
                door,
                address,
                area_m2: area,
                occupancy,
                care_tags,
                notes: get(r, "备注"),
            });
            rows_of.push(row);
        }
    }
    if households.is_empty() && errors.is_empty() {
        errors.push(err(2, "", "文件中没有住户数据"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for b in &mut buildings {
        let u = &units[&b.id];
        let max_numeric = u.iter().filter_map(|s| s.parse::<u32>().ok()).max();
        b.units = max_numeric
            .unwrap_or(0)
            .max(u32::try_from(u.len()).unwrap_or(u32::MAX))
            .max(1);
    }
    Ok((
        RosterInput {
            community_name: community_name.to_string(),
            grids,
            buildings,
            households,
        },
        rows_of,
    ))
}

/// Maps the core's field errors (`households[3].address`) back to spreadsheet rows.
fn core_errors(fields: &[gridwalk_core::FieldError], rows_of: &[usize]) -> Vec<RowError> {
    fields
        .iter()
        .map(|f| {
            let row = f
                .field
                .strip_prefix("households[")
                .and_then(|s| s.split(']').next())
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| rows_of.get(i).copied())
                .unwrap_or(0);
            err(row, "", f.message.clone())
        })
        .collect()
}

/// What an import did.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing was imported.
    Rejected(Vec<RowError>),
    /// Imported: created, updated, unchanged.
    Imported(gridwalk_core::RosterReport),
}

/// Validates and imports a file into the office store (all or nothing), then syncs.
pub fn import(c: &super::Console, bytes: &[u8]) -> crate::Result<Outcome> {
    let table = match read_table(bytes) {
        Ok(t) => t,
        Err(e) => return Ok(Outcome::Rejected(vec![e])),
    };
    let store = c.office().store();
    let name = store
        .community_name()?
        .unwrap_or_else(|| "社区".to_string());
    let (roster, rows_of) = match parse_roster(&table, &name) {
        Ok(r) => r,
        Err(e) => return Ok(Outcome::Rejected(e)),
    };
    match store.load_roster(&roster) {
        Ok(report) => {
            c.office().sync()?;
            Ok(Outcome::Imported(report))
        }
        Err(gridwalk_core::Error::Invalid(fields)) => {
            Ok(Outcome::Rejected(core_errors(&fields, &rows_of)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /console/roster`.
pub async fn form(staff: Staff) -> Page {
    staff.require_office()?;
    Ok(page(
        "花名册导入",
        &staff,
        "/console/roster",
        upload_form(&staff),
    ))
}

fn upload_form(staff: &Staff) -> maud::Markup {
    html! {
        p { "支持 Excel(.xlsx)和 CSV(UTF-8 或 GBK)。第一行为表头,列名如下(带 * 为必填):" }
        p { @for (name, req) in COLUMNS { code { (name) @if *req { "*" } } " " } }
        p.muted { "先检查全部行,有任何错误都不会导入;重复导入同一文件会更新已有住户,不会重复创建。" }
        form method="post" action="/console/roster" enctype="multipart/form-data" {
            (csrf(staff))
            label for="file" { "花名册文件" }
            input #file type="file" name="file" accept=".xlsx,.csv" required;
            button type="submit" { "检查并导入" }
        }
    }
}

/// `POST /console/roster` (multipart: `csrf`, `file`).
pub async fn upload(State(st): State<ConsoleState>, staff: Staff, mut mp: Multipart) -> Page {
    staff.require_office()?;
    let bad = |_| Fail(Error::BadRequest("上传失败,请重试".into()));
    let (mut token, mut file) = (String::new(), None::<Vec<u8>>);
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        match field.name() {
            Some("csrf") => token = field.text().await.map_err(bad)?,
            Some("file") => file = Some(field.bytes().await.map_err(bad)?.to_vec()),
            _ => {}
        }
    }
    staff.check_csrf(&token)?;
    let bytes = file
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Fail(Error::BadRequest("请选择文件".into())))?;
    let c = st.clone();
    let user = staff.username.clone();
    let outcome = blocking(move || {
        let o = import(&c, &bytes)?;
        if let Outcome::Imported(r) = &o {
            let what = format!(
                "created={} updated={} unchanged={}",
                r.created, r.updated, r.unchanged
            );
            c.staff().audit(&user, "roster_import", &what)?;
        }
        Ok(o)
    })
    .await?;
    let body = match &outcome {
        Outcome::Imported(r) => html! {
            (layout::notice(&format!(
                "导入成功:新增 {} 户,更新 {} 户,未变化 {} 户。",
                r.created, r.updated, r.unchanged
            )))
            (upload_form(&staff))
        },
        Outcome::Rejected(errors) => html! {
            div.error role="alert" {
                "发现 " (errors.len()) " 处错误,未导入任何数据。请修改后重新上传。"
            }
            table #import-errors {
                caption { "检查报告" }
                thead { tr { th scope="col" { "行号" } th scope="col" { "列" } th scope="col" { "问题" } } }
                tbody {
                    @for e in errors {
                        tr {
                            td { @if e.row > 0 { (e.row) } @else { "—" } }
                            td { (e.column) }
                            td { (e.message) }
                        }
                    }
                }
            }
            (upload_form(&staff))
        },
    };
    let status = match outcome {
        Outcome::Imported(_) => axum::http::StatusCode::OK,
        Outcome::Rejected(_) => axum::http::StatusCode::UNPROCESSABLE_ENTITY,
    };
    let mut resp = page("花名册导入", &staff, "/console/roster", body);
    *resp.status_mut() = status;
    Ok(resp)
}
