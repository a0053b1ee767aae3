package org.gridwalk.shell

import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.gridwalk_core.Gender
import uniffi.gridwalk_core.Household
import uniffi.gridwalk_core.ResidentInput

class HouseholdModelTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `residents show masked and a full value needs a purpose`() = runBlocking<Unit> {
        TestStore(dir).use { t ->
            val home = t.store.gridHouseholds(t.gridId).first().id
            val resident = t.store.addResident(
                home,
                ResidentInput("王秀英", Gender.FEMALE, "1948-03-02", null, "13800138000", "汉族", "户主", null, false, null, null),
            )
            val model = HouseholdModel(t.repo, home)
            model.load()
            val household = assertIs<Loadable.Ready<Household>>(model.state.value.household).value
            assertEquals("138****8000", household.residents.single { it.id == resident.id }.phoneMasked)

            model.reveal(resident.id, "phone", " ")
            assertNotNull(model.state.value.revealError)
            assertEquals(emptyMap(), model.state.value.revealed)

            model.reveal(resident.id, "phone", "联系走访")
            assertEquals("13800138000", model.state.value.revealed[RevealKey(resident.id, "phone")])
            assertNull(model.state.value.revealError)
            model.hide()
            assertEquals(emptyMap(), model.state.value.revealed)
        }
    }
}
