// wrangler's CompiledWasm rule turns `.wasm` imports into compiled WebAssembly modules (see wrangler.toml [[rules]]).
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
