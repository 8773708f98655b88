// N-API surface of the generic tensor kernels (ops_api.cc), registered next to the GNA exports.
#pragma once
#include <napi.h>

namespace gna {

// The device pointer of a live buffer handle that holds at least `bytes` (addon.cc's registry);
// throws a JS error otherwise.
void* deviceBuffer(Napi::Env env, const Napi::Value& v, const char* name, double bytes);

void registerOps(Napi::Env env, Napi::Object exports);

}  // namespace gna
