package org.gridwalk.android.ui

import androidx.compose.runtime.Composable
import androidx.compose.ui.res.stringResource
import org.gridwalk.android.R
import org.gridwalk.shell.EventStatus
import org.gridwalk.shell.EventStep
import org.gridwalk.shell.SyncStage
import uniffi.gridwalk_core.CareTag
import uniffi.gridwalk_core.VisitOutcome

/** Chinese labels of the core's enums, from strings.xml. */
@Composable
fun careTagLabel(tag: CareTag): String = stringResource(
    when (tag) {
        CareTag.ELDERLY_ALONE -> R.string.tag_elderly_alone
        CareTag.LEFT_BEHIND_CHILD -> R.string.tag_left_behind_child
        CareTag.DISABLED -> R.string.tag_disabled
        CareTag.DIBAO -> R.string.tag_dibao
        CareTag.WUBAO -> R.string.tag_wubao
        CareTag.SEVERE_ILLNESS -> R.string.tag_severe_illness
        CareTag.OTHER -> R.string.tag_other
    },
)

@Composable
fun outcomeLabel(outcome: VisitOutcome): String = stringResource(
    when (outcome) {
        VisitOutcome.MET -> R.string.outcome_met
        VisitOutcome.NOBODY_HOME -> R.string.outcome_nobody_home
        VisitOutcome.REFUSED -> R.string.outcome_refused
        VisitOutcome.MOVED_AWAY -> R.string.outcome_moved_away
    },
)

@Composable
fun statusLabel(status: EventStatus): String = stringResource(
    when (status) {
        EventStatus.REGISTERED -> R.string.status_registered
        EventStatus.DISPATCHED -> R.string.status_dispatched
        EventStatus.HANDLED -> R.string.status_handled
        EventStatus.VERIFIED -> R.string.status_verified
        EventStatus.CLOSED -> R.string.status_closed
    },
)

@Composable
fun stepLabel(step: EventStep): String = stringResource(
    when (step) {
        EventStep.DISPATCH -> R.string.step_dispatch
        EventStep.HANDLE -> R.string.step_handle
        EventStep.VERIFY -> R.string.step_verify
        EventStep.CLOSE -> R.string.step_close
        EventStep.RETURN -> R.string.step_return
        EventStep.ESCALATE -> R.string.step_escalate
        EventStep.FEEDBACK -> R.string.step_feedback
    },
)

@Composable
fun stageLabel(stage: SyncStage): String = stringResource(
    when (stage) {
        SyncStage.PREPARING -> R.string.stage_preparing
        SyncStage.EXCHANGING -> R.string.stage_exchanging
        SyncStage.APPLYING -> R.string.stage_applying
        SyncStage.DONE -> R.string.stage_done
    },
)
