package org.gridwalk.android

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.gridwalk.shell.Credential
import org.json.JSONArray
import org.json.JSONObject

/**
 * The device's secrets: the 32-byte key of the encrypted store and the sync credential. Both are
 * encrypted with an AES-GCM key that lives in the Android Keystore (hardware-backed where the
 * phone has it, never exportable); only the ciphertext is kept in app-private preferences. The
 * Keystore key needs no user authentication, because background sync must open the store while
 * the phone is locked in a pocket.
 */
class Vault(context: Context) {
    private val prefs = context.getSharedPreferences("vault", Context.MODE_PRIVATE)

    /** The store key, made on first use. Losing it (wipe) makes the store unreadable, as intended. */
    @Synchronized
    fun storeKey(): ByteArray {
        prefs.getString(STORE_KEY, null)?.let { return decrypt(it) }
        val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
        check(prefs.edit().putString(STORE_KEY, encrypt(key)).commit()) { "store key not saved" }
        return key
    }

    /** The enrolment credential, or null before enrolment. */
    var credential: Credential?
        @Synchronized get() = prefs.getString(CREDENTIAL, null)?.let { enc ->
            val o = JSONObject(String(decrypt(enc), Charsets.UTF_8))
            val scope = o.getJSONArray("scope")
            Credential(o.getString("token"), o.getString("personId"), o.getString("role"), List(scope.length()) { scope.getString(it) })
        }
        @Synchronized set(value) {
            val edit = prefs.edit()
            if (value == null) {
                edit.remove(CREDENTIAL)
            } else {
                val o = JSONObject()
                    .put("token", value.token)
                    .put("personId", value.personId)
                    .put("role", value.role)
                    .put("scope", JSONArray(value.scope))
                edit.putString(CREDENTIAL, encrypt(o.toString().toByteArray(Charsets.UTF_8)))
            }
            check(edit.commit()) { "credential not saved" }
        }

    /** Destroys the Keystore key and the ciphertexts: nothing encrypted under them can be read again. */
    @Synchronized
    fun destroy() {
        prefs.edit().clear().commit()
        keyStore().deleteEntry(ALIAS)
    }

    private fun encrypt(plain: ByteArray): String {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, wrappingKey())
        return Base64.encodeToString(cipher.iv + cipher.doFinal(plain), Base64.NO_WRAP)
    }

    private fun decrypt(stored: String): ByteArray {
        val bytes = Base64.decode(stored, Base64.NO_WRAP)
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, wrappingKey(), GCMParameterSpec(128, bytes, 0, IV_BYTES))
        return cipher.doFinal(bytes, IV_BYTES, bytes.size - IV_BYTES)
    }

    private fun wrappingKey(): SecretKey {
        (keyStore().getEntry(ALIAS, null) as? KeyStore.SecretKeyEntry)?.let { return it.secretKey }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private fun keyStore() = KeyStore.getInstance(KEYSTORE).apply { load(null) }

    private companion object {
        const val KEYSTORE = "AndroidKeyStore"
        const val ALIAS = "gridwalk-vault"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
        const val STORE_KEY = "store_key"
        const val CREDENTIAL = "credential"
    }
}
