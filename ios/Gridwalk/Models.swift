import Foundation

// View models of the screens, the Swift counterparts of android/shared. They call the store off
// the main thread and publish what the views show; the rules are the core's.

struct UnitGroup: Identifiable {
    let unit: String
    let households: [HouseholdRow]
    var id: String { unit }
}

struct BuildingGroup: Identifiable {
    let id: String
    let name: String
    let units: [UnitGroup]
    var householdCount: Int { units.reduce(0) { $0 + $1.households.count } }
    var dueCount: Int { units.reduce(0) { $0 + $1.households.filter(\.due).count } }
}

struct HouseholdRow: Identifiable {
    let household: HouseholdSummary
    /// Due for a visit now, as GridStore.dueForVisit says.
    let due: Bool
    var id: String { household.id }
}

@MainActor
final class GridListModel: ObservableObject {
    struct Row: Identifiable {
        let place: Place
        let counts: GridCounts?
        var id: String { place.id }
    }

    @Published var grids: [Row] = []
    @Published var error: String?

    func load() async {
        do {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let (places, counts) = try await background { let s = try Shell.shared.store(); return (try s.places(), try s.gridCounts(nowMs: now)) }
            grids = places.filter { $0.kind == "grid" }.map { g in Row(place: g, counts: counts.first { $0.gridId == g.id }) }
        } catch { self.error = message(error) }
    }
}

/// A grid's households grouped by building and unit, due ones marked.
@MainActor
final class HouseholdListModel: ObservableObject {
    let gridId: String
    @Published var buildings: [BuildingGroup] = []
    @Published var error: String?

    init(gridId: String) { self.gridId = gridId }

    func load() async {
        let gridId = self.gridId
        do {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let (households, due, places) = try await background {
                let s = try Shell.shared.store()
                return (try s.gridHouseholds(gridId: gridId), try s.dueForVisit(gridId: gridId, nowMs: now), try s.places())
            }
            let dueIds = Set(due.map(\.household.id))
            let names = Dictionary(places.filter { $0.kind == "building" }.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
            var order: [String] = []
            var byBuilding: [String: [HouseholdSummary]] = [:]
            for h in households {
                if byBuilding[h.buildingId] == nil { order.append(h.buildingId) }
                byBuilding[h.buildingId, default: []].append(h)
            }
            buildings = order.map { b in
                var unitOrder: [String] = []
                var byUnit: [String: [HouseholdRow]] = [:]
                for h in byBuilding[b] ?? [] {
                    if byUnit[h.unit] == nil { unitOrder.append(h.unit) }
                    byUnit[h.unit, default: []].append(HouseholdRow(household: h, due: dueIds.contains(h.id)))
                }
                return BuildingGroup(id: b, name: names[b] ?? b, units: unitOrder.map { UnitGroup(unit: $0, households: byUnit[$0] ?? []) })
            }
        } catch { self.error = message(error) }
    }
}

/// A household with masked residents; a full value needs a purpose (the core logs it).
@MainActor
final class HouseholdModel: ObservableObject {
    let householdId: String
    @Published var household: Household?
    @Published var visits: [Visit] = []
    @Published var revealed: [String: String] = [:]
    @Published var revealError: String?
    @Published var error: String?

    init(householdId: String) { self.householdId = householdId }

    func load() async {
        let id = householdId
        do {
            (household, visits) = try await background { let s = try Shell.shared.store(); return (try s.household(id: id), try s.visitHistory(householdId: id)) }
        } catch { self.error = message(error) }
    }

    func reveal(residentId: String, field: String, purpose: String) async -> Bool {
        do {
            revealed["\(residentId)/\(field)"] = try await background {
                try Shell.shared.store().reveal(residentId: residentId, field: field, purpose: purpose)
            }
            revealError = nil
            return true
        } catch {
            revealError = message(error)
            return false
        }
    }

    func hide() { revealed = [:] }
}

/// The visit form rendered from the form definition. The core decides which fields are shown
/// (`visibleFields`, asked again at every answer) with the rule it validates by; its field errors
/// come back per field.
@MainActor
final class VisitFormModel: ObservableObject {
    let householdId: String
    let formId: String
    private let startedMs = Int64(Date().timeIntervalSince1970 * 1000)
    @Published var form: FormSpec?
    @Published var answers: [String: AnswerValue] = [:]
    /// Ids of the fields shown for `answers`, as the core says.
    @Published var visibleIds: Set<String> = []
    @Published var outcome: VisitOutcome = .met
    @Published var notes = ""
    @Published var photos: [String] = []
    @Published var fieldErrors: [String: String] = [:]
    @Published var formErrors: [String] = []
    @Published var saved = false
    @Published var error: String?

    init(householdId: String, formId: String = "four_questions") {
        self.householdId = householdId
        self.formId = formId
    }

    func load() async {
        let formId = self.formId
        do {
            let spec = try FormSpec(json: try await background { try Shell.shared.store().currentFormJson(formId: formId) })
            // The core checks the definition here: a malformed one fails the load, so the same
            // JSON cannot make `set` fail later.
            visibleIds = try Self.shown(spec, answers)
            form = spec
        } catch { self.error = message(error) }
    }

    /// Sets (or with nil clears) one answer; its old error goes away and the core says again
    /// which fields are shown (no store involved: quick enough for every keystroke).
    func set(_ fieldId: String, _ value: AnswerValue?) {
        answers[fieldId] = value
        fieldErrors[fieldId] = nil
        if let form, let ids = try? Self.shown(form, answers) { visibleIds = ids }
    }

    private static func shown(_ form: FormSpec, _ answers: [String: AnswerValue]) throws -> Set<String> {
        Set(try visibleFields(formJson: form.json, answers: answers))
    }

    func addPhoto(_ jpeg: Data) async {
        do { photos.append(try await background { try Shell.shared.store().addPhoto(jpeg: jpeg) }) } catch { formErrors = [message(error)] }
    }

    func save() async {
        guard let form else { return }
        let ids = visibleIds
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let input = VisitInput(
            householdId: householdId, startedMs: startedMs, endedMs: now, outcome: outcome, present: [], location: nil,
            formId: form.id, formVersion: form.version, answers: answers.filter { ids.contains($0.key) },
            needs: [], photos: photos, notes: notes)
        fieldErrors = [:]
        formErrors = []
        do {
            _ = try await background { try Shell.shared.store().recordVisit(visit: input) }
            saved = true
        } catch let GridError.InvalidInput(errors) {
            for e in errors {
                if e.field.hasPrefix("answers.") { fieldErrors[String(e.field.dropFirst("answers.".count))] = e.message } else { formErrors.append(e.message) }
            }
        } catch { formErrors = [message(error)] }
    }
}

/// Events with status and the time left to the deadline that counts now.
@MainActor
final class EventListModel: ObservableObject {
    struct Row: Identifiable {
        let event: EventSummary
        /// Milliseconds to the deadline that counts now (respond while registered, then handle); nil once closed.
        let msLeft: Int64?
        /// Past a deadline, as GridStore.overdueEvents says.
        let overdue: Bool
        var id: String { event.id }
    }

    @Published var rows: [Row] = []
    @Published var error: String?

    func load(state: EventState? = nil) async {
        do {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let (events, overdue) = try await background {
                let s = try Shell.shared.store()
                return (try s.events(gridId: nil, state: state), Set(try s.overdueEvents(gridId: nil, nowMs: now).map(\.id)))
            }
            rows = events.map { e in
                let deadline: Int64? = e.state == .closed ? nil : (e.state == .registered ? e.responseDueMs : e.handleDueMs)
                return Row(event: e, msLeft: deadline.map { $0 - now }, overdue: overdue.contains(e.id))
            }
        } catch { self.error = message(error) }
    }
}

/// A snap report: camera photos, category, place, description; duplicates shown once.
@MainActor
final class SnapModel: ObservableObject {
    let gridId: String
    @Published var categories: [Category] = []
    @Published var category = ""
    @Published var place = ""
    @Published var text = ""
    @Published var photos: [String] = []
    @Published var duplicates: [EventSummary] = []
    @Published var fieldErrors: [String: String] = [:]
    @Published var error: String?
    @Published var filed = false

    init(gridId: String) { self.gridId = gridId }

    func load() async {
        do { categories = try await background { try Shell.shared.store().catalogue() } } catch { self.error = message(error) }
    }

    func addPhoto(_ jpeg: Data) async {
        do { photos.append(try await background { try Shell.shared.store().addCameraPhoto(image: jpeg) }.hash) } catch { self.error = message(error) }
    }

    func file(confirmed: Bool = false) async {
        let input = EventInput(gridId: gridId, source: .snap, category: category,
                               place: EventPlace(buildingId: nil, unit: nil, text: place, lat: nil, lon: nil),
                               description: text, photos: photos, householdId: nil, parties: [])
        do {
            if !confirmed {
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                let dups = try await background { try Shell.shared.store().possibleDuplicates(input: input, nowMs: now) }
                if !dups.isEmpty { duplicates = dups; return }
            }
            _ = try await background { try Shell.shared.store().reportEvent(input: input) }
            duplicates = []
            filed = true
        } catch let GridError.InvalidInput(errors) {
            fieldErrors = Dictionary(errors.map { ($0.field, $0.message) }, uniquingKeysWith: { a, _ in a })
        } catch { self.error = message(error) }
    }
}

/// Sync: phases as they happen, then whether everything is uploaded. Revoked wipes the device.
@MainActor
final class SyncModel: ObservableObject {
    @Published var running = false
    @Published var progress: SyncProgress?
    @Published var report: SyncReport?
    @Published var photosUp: UInt32 = 0
    @Published var photosDown: UInt32 = 0
    @Published var everythingUploaded = false
    @Published var offline = false
    @Published var error: String?
    private var client: SyncClient?

    func refresh() async {
        everythingUploaded = (try? await background { try Shell.shared.store().everythingUploaded() }) ?? false
    }

    func run() async {
        running = true
        offline = false
        error = nil
        defer { running = false }
        do {
            let store = try Shell.shared.store()
            let client = try Shell.shared.syncClient()
            self.client = client
            let listener = Listener { p in Task { @MainActor in self.progress = p } }
            let outcome: SyncReport? = try await Shell.shared.syncQueue.run {
                let r = try await client.sync(store: store, listener: listener)
                let up = try await client.uploadPhotos(store: store)
                let down = try await client.downloadPhotos(store: store)
                await MainActor.run { self.photosUp = up.uploaded; self.photosDown = down.downloaded }
                return r
            }
            guard let r = outcome else { return } // another sync was running
            report = r
            everythingUploaded = r.everythingUploaded && ((try? await background { try store.everythingUploaded() }) ?? false)
        } catch GridError.Revoked {
            Shell.shared.wipe()
        } catch let GridError.Network(reason) {
            offline = true
            error = reason
        } catch {
            self.error = message(error)
        }
    }

    func cancel() { client?.cancel() }

    private final class Listener: SyncListener, @unchecked Sendable {
        let report: (SyncProgress) -> Void
        init(_ report: @escaping (SyncProgress) -> Void) { self.report = report }
        func onProgress(progress: SyncProgress) { report(progress) }
    }
}
