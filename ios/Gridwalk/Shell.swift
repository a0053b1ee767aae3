import Foundation

/// The platform glue in one place: where the store lives, where its key and the credential come
/// from (the Keychain), which office to talk to, and what a revocation destroys. Every store call
/// is blocking: views reach it through `background`, never on the main thread.
final class Shell: ObservableObject {
    static let shared = Shell()

    @Published private(set) var enrolled: Bool
    private var opened: GridStore?
    private let lock = NSLock()
    /// One sync at a time, from the sync screen or the background task.
    let syncQueue = SyncGate()

    /// The office CA in PEM when the office runs its own authority; nil trusts the system roots.
    private let caPem: Data? = nil

    private var dbPath: String {
        let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("grid.db").path
    }

    private init() {
        enrolled = Keychain.read("credential") != nil
    }

    var credential: Credential? {
        Keychain.read("credential").flatMap { try? JSONDecoder().decode(Credential.self, from: $0) }
    }

    /// The open store of the enrolled person.
    func store() throws -> GridStore {
        lock.lock()
        defer { lock.unlock() }
        if let s = opened { return s }
        guard let c = credential else { throw GridError.Forbidden(reason: "not enrolled") }
        let s = try GridStore.open(path: dbPath, key: Keychain.storeKey(), personId: c.personId)
        opened = s
        return s
    }

    func syncClient() throws -> SyncClient {
        guard let c = credential else { throw GridError.Forbidden(reason: "not enrolled") }
        return try SyncClient(baseUrl: c.baseUrl, token: c.token, caPem: caPem)
    }

    /// Enrolment: the store is created first (enrolment registers its device and actor ids), the
    /// credential goes into the Keychain, then the store is reopened as the enrolled person.
    func enrol(baseUrl: String, code: String) async throws {
        let provisional = try GridStore.open(path: dbPath, key: Keychain.storeKey(), personId: "unenrolled-device")
        let e: Enrolment
        do {
            e = try await gridwalk_enrol(baseUrl: baseUrl, caPem: caPem, code: code, store: provisional)
        } catch {
            provisional.closeStore()
            throw error
        }
        provisional.closeStore()
        let c = Credential(token: e.token, personId: e.personId, role: e.role, scope: e.scope, baseUrl: baseUrl)
        try Keychain.write("credential", JSONEncoder().encode(c))
        try store().setIdentity(identity: Identity(role: e.role, scope: e.scope))
        await MainActor.run { enrolled = true }
        BackgroundSync.schedule()
    }

    /// Revoked by the office: wipe the store, destroy the key and the credential.
    func wipe() {
        lock.lock()
        if let s = opened {
            try? s.wipe()
            s.closeStore()
        }
        opened = nil
        lock.unlock()
        let fm = FileManager.default
        for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: dbPath + suffix) }
        Keychain.destroyAll()
        BackgroundSync.cancel()
        DispatchQueue.main.async { self.enrolled = false }
    }
}

/// The generated free function `enrol`, named apart from `Shell.enrol`.
private func gridwalk_enrol(baseUrl: String, caPem: Data?, code: String, store: GridStore) async throws -> Enrolment {
    try await enrol(baseUrl: baseUrl, caPem: caPem, code: code, store: store)
}

/// Runs blocking store calls off the main thread.
func background<T>(_ work: @escaping () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { cont in
        DispatchQueue.global(qos: .userInitiated).async { cont.resume(with: Result { try work() }) }
    }
}

/// Serialises syncs (an actor: one at a time, in order).
actor SyncGate {
    private var busy = false
    func run<T>(_ work: () async throws -> T) async rethrows -> T? {
        if busy { return nil }
        busy = true
        defer { busy = false }
        return try await work()
    }
}

/// The core's message for an error (Chinese, never personal data).
func message(_ error: Error) -> String {
    switch error {
    case let GridError.InvalidInput(errors): return errors.map(\.message).joined(separator: "\n")
    case let GridError.NotFound(reason), let GridError.Forbidden(reason), let GridError.Storage(reason), let GridError.Network(reason):
        return reason
    default: return String(describing: error)
    }
}
