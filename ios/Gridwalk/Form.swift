import Foundation

/// A form definition as the screens need it, read from GridStore.formJson/currentFormJson (the
/// format of gridwalk-core's FormDefinition). The shell renders any published form from this and
/// never validates: recordVisit does, and its field errors are shown under the fields.
struct FormSpec {
    let id: String
    let version: UInt32
    let title: String
    let sections: [FormSection]

    var fields: [FormField] { sections.flatMap(\.fields) }

    init(json: String) throws {
        guard let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw GridError.InvalidInput(errors: [FieldError(field: "form", code: "invalid", message: "表单格式错误")])
        }
        id = root["id"] as? String ?? ""
        version = (root["version"] as? NSNumber)?.uint32Value ?? 1
        title = root["title"] as? String ?? ""
        sections = (root["sections"] as? [[String: Any]] ?? []).map { s in
            FormSection(id: s["id"] as? String ?? "", title: s["title"] as? String ?? "",
                        fields: (s["fields"] as? [[String: Any]] ?? []).map(FormField.init))
        }
    }
}

struct FormSection: Identifiable {
    let id: String
    let title: String
    let fields: [FormField]
}

struct FormOption {
    let value: String
    let label: String
}

enum FieldType: String {
    case text, singleChoice = "single_choice", multiChoice = "multi_choice", number, date, yesNo = "yes_no"
    case idNumber = "id_number", phone
}

struct FormField: Identifiable {
    let id: String
    let label: String
    /// Unknown types are shown as text; the core still validates them.
    let type: FieldType
    let required: Bool
    let hint: String?
    let options: [FormOption]
    let integer: Bool
    let relevant: Condition?

    init(_ o: [String: Any]) {
        id = o["id"] as? String ?? ""
        label = o["label"] as? String ?? ""
        type = FieldType(rawValue: o["type"] as? String ?? "") ?? .text
        required = o["required"] as? Bool ?? false
        hint = o["hint"] as? String
        options = (o["options"] as? [[String: Any]] ?? []).map { FormOption(value: $0["value"] as? String ?? "", label: $0["label"] as? String ?? "") }
        integer = o["integer"] as? Bool ?? false
        relevant = (o["relevant"] as? [String: Any]).map(Condition.init)
    }
}

/// When a field is shown. Evaluated only to show or hide fields while the worker types; the core
/// evaluates the same condition on save and is the authority.
indirect enum Condition {
    case equals(String, AnswerValue)
    case anyOf(String, [AnswerValue])
    case contains(String, String)
    case answered(String)
    case not(Condition)
    case all([Condition])
    case any([Condition])
    case unknown

    init(_ o: [String: Any]) {
        let field = o["field"] as? String ?? ""
        switch o["op"] as? String {
        case "equals": self = (o["value"] as? [String: Any]).flatMap(answer).map { .equals(field, $0) } ?? .unknown
        case "any_of": self = .anyOf(field, (o["values"] as? [[String: Any]] ?? []).compactMap(answer))
        case "contains": self = .contains(field, o["value"] as? String ?? "")
        case "answered": self = .answered(field)
        case "not": self = (o["cond"] as? [String: Any]).map { .not(Condition($0)) } ?? .unknown
        case "all": self = .all((o["conds"] as? [[String: Any]] ?? []).map(Condition.init))
        case "any": self = .any((o["conds"] as? [[String: Any]] ?? []).map(Condition.init))
        default: self = .unknown
        }
    }

    func holds(_ a: [String: AnswerValue]) -> Bool {
        switch self {
        case let .equals(f, v): return a[f] == v
        case let .anyOf(f, vs): return a[f].map { vs.contains($0) } ?? false
        case let .contains(f, v): if case let .choices(c)? = a[f] { return c.contains(v) } else { return false }
        case let .answered(f): return a[f].map { !isBlank($0) } ?? false
        case let .not(c): return !c.holds(a)
        case let .all(cs): return cs.allSatisfy { $0.holds(a) }
        case let .any(cs): return cs.contains { $0.holds(a) }
        case .unknown: return true
        }
    }
}

/// An answer in its JSON form `{"type":"yes_no","value":true}`.
private func answer(_ o: [String: Any]) -> AnswerValue? {
    switch o["type"] as? String {
    case "text": return (o["value"] as? String).map(AnswerValue.text)
    case "choice": return (o["value"] as? String).map(AnswerValue.choice)
    case "choices": return (o["value"] as? [String]).map(AnswerValue.choices)
    case "number": return (o["value"] as? NSNumber).map { .number($0.doubleValue) }
    case "date": return (o["value"] as? String).map(AnswerValue.date)
    case "yes_no": return (o["value"] as? Bool).map(AnswerValue.yesNo)
    default: return nil
    }
}

func isBlank(_ a: AnswerValue) -> Bool {
    switch a {
    case let .text(s), let .date(s): return s.trimmingCharacters(in: .whitespaces).isEmpty
    case let .choice(s): return s.isEmpty
    case let .choices(c): return c.isEmpty
    case .number, .yesNo: return false
    }
}
