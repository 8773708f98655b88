// CUDA error checking shared by the translation units: every runtime call's status becomes a
// Status carrying the CUDA error name, never an abort (issue 5 item 5).
#pragma once
#include <cuda_runtime.h>
#include <string>
#include "gna_native.h"

namespace gna {

inline Status cudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  return Status::Fail(std::string(what) + " failed: " + cudaGetErrorName(err) + " (" +
                      cudaGetErrorString(err) + ")");
}

// Launch-configuration errors surface at once; faults inside the kernel at the next sync.
inline Status lastLaunchStatus(const char* kernel) {
  return cudaStatus(cudaGetLastError(), (std::string("launch of ") + kernel).c_str());
}

}  // namespace gna
