package org.gridwalk.shell

import java.nio.file.Path
import kotlinx.coroutines.Dispatchers
import uniffi.gridwalk_ffi.GridStore
import uniffi.gridwalk_ffi.demoRoster

/** A real store in a temp directory with the demo community (1 grid, 12 households) loaded. */
class TestStore(dir: Path) : AutoCloseable {
    val store: GridStore = GridStore.open(dir.resolve("grid.db").toString(), ByteArray(32) { (it * 7 + 1).toByte() }, "worker-zhang")
    val repo = GridRepository(store, Dispatchers.IO)
    val gridId: String

    init {
        store.loadRoster(demoRoster(1u, 12u, 7uL))
        gridId = store.places().first { it.kind == "grid" }.id
    }

    override fun close() {
        store.closeStore()
        store.close()
    }
}
