import Foundation

/// A form definition as the screens need it, read from GridStore.formJson/currentFormJson (the
/// format of gridwalk-core's FormDefinition). The shell renders any published form from this and
/// nothing more: which fields are shown comes from the core (`visibleFields`, see VisitFormModel),
/// and recordVisit validates, its field errors shown under the fields. The fields' `relevant`
/// conditions are deliberately not read here.
struct FormSpec {
    let id: String
    let version: UInt32
    let title: String
    let sections: [FormSection]
    /// The definition as the core sent it, to ask the core about it.
    let json: String

    var fields: [FormField] { sections.flatMap(\.fields) }

    init(json: String) throws {
        guard let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw GridError.InvalidInput(errors: [FieldError(field: "form", code: "invalid", message: "表单格式错误")])
        }
        self.json = json
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

    init(_ o: [String: Any]) {
        id = o["id"] as? String ?? ""
        label = o["label"] as? String ?? ""
        type = FieldType(rawValue: o["type"] as? String ?? "") ?? .text
        required = o["required"] as? Bool ?? false
        hint = o["hint"] as? String
        options = (o["options"] as? [[String: Any]] ?? []).map { FormOption(value: $0["value"] as? String ?? "", label: $0["label"] as? String ?? "") }
        integer = o["integer"] as? Bool ?? false
    }
}
