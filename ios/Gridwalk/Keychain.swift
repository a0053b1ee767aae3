import Foundation
import Security

/// The device's secrets in the Keychain: the 32-byte store key and the sync credential. Stored
/// "after first unlock, this device only": background sync can open the store while the phone
/// is locked, and neither secret ever leaves the device in a backup.
enum Keychain {
    private static let service = "org.gridwalk.vault"

    static func read(_ account: String) -> Data? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
            kSecReturnData as String: true,
            kSecMatchLimit as String: kSecMatchLimitOne,
        ]
        var item: CFTypeRef?
        guard SecItemCopyMatching(query as CFDictionary, &item) == errSecSuccess else { return nil }
        return item as? Data
    }

    static func write(_ account: String, _ data: Data) throws {
        let base: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
        ]
        SecItemDelete(base as CFDictionary)
        var add = base
        add[kSecValueData as String] = data
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(add as CFDictionary, nil)
        guard status == errSecSuccess else { throw NSError(domain: NSOSStatusErrorDomain, code: Int(status)) }
    }

    /// Deletes every secret of the app: what the store key encrypted can never be read again.
    static func destroyAll() {
        SecItemDelete([kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: service] as CFDictionary)
    }

    /// The store key, made on first use from the system's secure random generator.
    static func storeKey() throws -> Data {
        if let key = read("store_key") { return key }
        var key = Data(count: 32)
        let status = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard status == errSecSuccess else { throw NSError(domain: NSOSStatusErrorDomain, code: Int(status)) }
        try write("store_key", key)
        return key
    }
}

/// What enrolment gives this device.
struct Credential: Codable {
    let token: String
    let personId: String
    let role: String
    let scope: [String]
    let baseUrl: String
}
