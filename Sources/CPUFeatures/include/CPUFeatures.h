#ifndef MIXMERGE_CPU_FEATURES_H
#define MIXMERGE_CPU_FEATURES_H

/// Names of the instruction-set extensions the binary was compiled for that this CPU lacks,
/// separated by spaces; an empty string when nothing is missing.
const char *mixmerge_missing_cpu_features(void);

#endif
