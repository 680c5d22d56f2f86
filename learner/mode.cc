// Start-up and exit of the learner, by HAKMEM_MODE:
//   off     nothing runs; the route uses its defaults (and hak_route_set decisions);
//   learn   measure, rate, and publish decisions as they are made;
//   shadow  measure and rate, never publish: behaviour stays as off;
//   frozen  publish the decisions of HAKMEM_FROZEN_TABLE once, then nothing runs.
// At exit, learn and shadow write HAKMEM_LEARN_LOG and HAKMEM_FREEZE_TO if set.
#include "core/init.h"
#include "core/learner_hooks.h"
#include "core/options.h"
#include "learner/curves.h"
#include "learner/frozen.h"
#include "learner/learn_log.h"
#include "learner/learner.h"
#include "learner/telemetry.h"
#include "learner/trace.h"

namespace hakmem {

void LearnerInit() {
  learner::StartTelemetry();
  learner::StartTrace();
  const auto mode = ModeOption();
  switch (mode) {
    case LearnMode::kLearn:
    case LearnMode::kShadow:
      // Only a learning run writes a table or a log, so only it records when it began.
      learner::MarkRunStart();
      learner::MarkCurvesStart();
      learner::StartMeasuring(mode);
      break;
    case LearnMode::kFrozen:
      learner::StartFrozen(GetStringOption(Option::kFrozenTable));
      break;
    case LearnMode::kOff:
      break;
  }
}

namespace {

__attribute__((destructor)) void LearnerAtExit() {
  const LearnMode mode = learner::Mode();
  if (mode != LearnMode::kLearn && mode != LearnMode::kShadow) return;
  if (const char* log = GetStringOption(Option::kLearnLog)) learner::WriteLearnLog(log);
  if (const char* to = GetStringOption(Option::kFreezeTo)) learner::FreezeTo(to);
}

}  // namespace
}  // namespace hakmem
