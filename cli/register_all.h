// Fills every registry: tokenizers, datasets, models, optimizers, schedules, trainers.
#pragma once

namespace zoo {
void register_all();
}
