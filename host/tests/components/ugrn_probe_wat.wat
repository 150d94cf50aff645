;; A probe component of world ugrn:plugin/probe@0.1.0, written by hand so the host's component
;; path is tested where no wasm compiler target is installed. Features per pair: the source and
;; target gene indices and the oracle's bytes-per-cell for a 2-gene readout cell. The integer
;; parameter `mode` selects a failure instead (see its doc below).
;;
;; Memory map: strings from 0x0, the columns list at 0x300, plugin-info at 0x400 and its one
;; param-spec at 0x440 (written by `describe`), the return area at 0x800, a bump heap from 0x1000.
;; Offsets follow the canonical ABI layouts of the WIT types (see sdk/wit/0.1.0/plugin.wit).
(component
  (import "ugrn:plugin/oracle@0.1.0" (instance $oracle
    (type $pass (enum "readout" "derivative" "attention"))
    (export "pass" (type $pass-t (eq $pass)))
    (export "bytes-per-cell" (func (param "genes" u32) (param "pass" $pass-t) (result u64)))
  ))
  (import "ugrn:plugin/progress@0.1.0" (instance $progress
    (export "set-total" (func (param "total" u64)))
    (export "advance" (func (param "done" u64)))
  ))

  (core module $probe
    (import "host" "bytes-per-cell" (func $bytes_per_cell (param i32 i32) (result i64)))
    (import "host" "set-total" (func $set_total (param i64)))
    (import "host" "advance" (func $advance (param i64)))
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 0x1000))

    (data (i32.const 0x000) "probe-wat")
    (data (i32.const 0x010) "0.1.0")
    (data (i32.const 0x020) "Test component written in WAT: per pair, its gene indices and the oracle's bytes per 2-gene readout cell")
    (data (i32.const 0x100) "mode")
    (data (i32.const 0x110) "0 answers; 1 traps; 2 spins until out of fuel; 3 grows memory without end; 4 returns one row too many; 5 returns an error; 6 answers and says it reads expression")
    (data (i32.const 0x200) "source")
    (data (i32.const 0x208) "target")
    (data (i32.const 0x210) "bytes")
    (data (i32.const 0x220) "mode 5 asks for an error")

    ;; Bump allocator: the host allocates arguments here; nothing is ever freed (one call per
    ;; instance).
    (func $realloc (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $ptr i32)
      (local.set $ptr
        (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                 (i32.sub (i32.const 0) (local.get $align))))
      (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
      (block $fits
        (loop $grow
          (br_if $fits (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
          (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
          (br $grow)))
      (local.get $ptr))

    ;; plugin-info { name, version, description, params: [param-spec] }
    (func (export "describe") (result i32)
      (i32.store (i32.const 0x400) (i32.const 0x000)) (i32.store (i32.const 0x404) (i32.const 9))
      (i32.store (i32.const 0x408) (i32.const 0x010)) (i32.store (i32.const 0x40c) (i32.const 5))
      (i32.store (i32.const 0x410) (i32.const 0x020)) (i32.store (i32.const 0x414) (i32.const 104))
      (i32.store (i32.const 0x418) (i32.const 0x440)) (i32.store (i32.const 0x41c) (i32.const 1))
      ;; param-spec { name: "mode", kind: integer, default: integer(0), doc }
      (i32.store (i32.const 0x440) (i32.const 0x100)) (i32.store (i32.const 0x444) (i32.const 4))
      (i32.store8 (i32.const 0x448) (i32.const 1))
      (i32.store8 (i32.const 0x458) (i32.const 1)) (i64.store (i32.const 0x460) (i64.const 0))
      (i32.store (i32.const 0x468) (i32.const 0x110)) (i32.store (i32.const 0x46c) (i32.const 161))
      (i32.const 0x400))

    ;; Reads expression only in mode 6 (the one parameter's payload, as in `features`).
    (func (export "needs-expression") (param $params i32) (param $len i32) (result i32)
      (i64.eq (i64.load offset=16 (local.get $params)) (i64.const 6)))

    ;; probe-request: params list at +0, pairs list at +60. Result: result<features, error> at 0x800.
    (func (export "features") (param $request i32) (result i32)
      (local $mode i64) (local $pairs i32) (local $n i32) (local $rows i32) (local $data i32)
      (local $k i32) (local $pair i32) (local $row i32) (local $bytes f32)
      ;; The only parameter is `mode`: its param-value payload sits 16 bytes into the tuple.
      (local.set $mode (i64.load offset=16 (i32.load (local.get $request))))
      (local.set $pairs (i32.load offset=60 (local.get $request)))
      (local.set $n (i32.load offset=64 (local.get $request)))
      (if (i64.eq (local.get $mode) (i64.const 1)) (then unreachable))
      (if (i64.eq (local.get $mode) (i64.const 2)) (then (loop $spin (br $spin))))
      (if (i64.eq (local.get $mode) (i64.const 3))
        (then (loop $swell (drop (memory.grow (i32.const 16))) (br $swell))))
      (if (i64.eq (local.get $mode) (i64.const 5))
        (then
          (i32.store8 (i32.const 0x800) (i32.const 1))
          (i32.store8 (i32.const 0x804) (i32.const 4))
          (i32.store (i32.const 0x808) (i32.const 0x220))
          (i32.store (i32.const 0x80c) (i32.const 24))
          (return (i32.const 0x800))))
      (call $set_total (i64.extend_i32_u (local.get $n)))
      (local.set $bytes (f32.convert_i64_u (call $bytes_per_cell (i32.const 2) (i32.const 0))))
      (local.set $rows (local.get $n))
      (if (i64.eq (local.get $mode) (i64.const 4))
        (then (local.set $rows (i32.add (local.get $n) (i32.const 1)))))
      (local.set $data (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.mul (local.get $rows) (i32.const 12))))
      (block $done
        (loop $each
          (br_if $done (i32.ge_u (local.get $k) (local.get $rows)))
          ;; Mode 4's extra row repeats the last pair.
          (local.set $pair
            (i32.add (local.get $pairs)
              (i32.mul (select (local.get $k) (i32.sub (local.get $n) (i32.const 1)) (i32.lt_u (local.get $k) (local.get $n)))
                       (i32.const 8))))
          (local.set $row (i32.add (local.get $data) (i32.mul (local.get $k) (i32.const 12))))
          (f32.store (local.get $row) (f32.convert_i32_u (i32.load (local.get $pair))))
          (f32.store offset=4 (local.get $row) (f32.convert_i32_u (i32.load offset=4 (local.get $pair))))
          (f32.store offset=8 (local.get $row) (local.get $bytes))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $each)))
      (call $advance (i64.extend_i32_u (local.get $n)))
      ;; columns ["source", "target", "bytes"]
      (i32.store (i32.const 0x300) (i32.const 0x200)) (i32.store (i32.const 0x304) (i32.const 6))
      (i32.store (i32.const 0x308) (i32.const 0x208)) (i32.store (i32.const 0x30c) (i32.const 6))
      (i32.store (i32.const 0x310) (i32.const 0x210)) (i32.store (i32.const 0x314) (i32.const 5))
      ;; ok(features { columns, values: matrix { rows, cols: 3, data } })
      (i32.store8 (i32.const 0x800) (i32.const 0))
      (i32.store (i32.const 0x804) (i32.const 0x300)) (i32.store (i32.const 0x808) (i32.const 3))
      (i32.store (i32.const 0x80c) (local.get $rows)) (i32.store (i32.const 0x810) (i32.const 3))
      (i32.store (i32.const 0x814) (local.get $data)) (i32.store (i32.const 0x818) (i32.mul (local.get $rows) (i32.const 3)))
      (i32.const 0x800))
  )

  (core func $bytes-per-cell (canon lower (func $oracle "bytes-per-cell")))
  (core func $set-total (canon lower (func $progress "set-total")))
  (core func $advance (canon lower (func $progress "advance")))
  (core instance $host
    (export "bytes-per-cell" (func $bytes-per-cell))
    (export "set-total" (func $set-total))
    (export "advance" (func $advance)))
  (core instance $instance (instantiate $probe (with "host" (instance $host))))

  ;; The world's types, from the `types` interface the world uses (the host's linker provides it).
  (import "ugrn:plugin/types@0.1.0" (instance $types
    (type $param-value' (variant
      (case "boolean" bool) (case "integer" s64) (case "number" f64) (case "text" string)
      (case "integers" (list s64)) (case "numbers" (list f64))))
    (export "param-value" (type $param-value (eq $param-value')))
    (type $param-kind' (variant
      (case "boolean") (case "integer") (case "number") (case "text") (case "choice" (list string))
      (case "numbers") (case "integers")))
    (export "param-kind" (type $param-kind (eq $param-kind')))
    (type $param-spec' (record
      (field "name" string) (field "kind" $param-kind) (field "default" $param-value) (field "doc" string)))
    (export "param-spec" (type $param-spec (eq $param-spec')))
    (type $plugin-info' (record
      (field "name" string) (field "version" string) (field "description" string) (field "params" (list $param-spec))))
    (export "plugin-info" (type $plugin-info (eq $plugin-info')))
    (type $matrix' (record (field "rows" u32) (field "cols" u32) (field "data" (list f32))))
    (export "matrix" (type $matrix (eq $matrix')))
    (type $pair' (record (field "source" u32) (field "target" u32)))
    (export "pair" (type $pair (eq $pair')))
    (type $expression' (record (field "cell-names" (list string)) (field "values" $matrix)))
    (export "expression" (type $expression (eq $expression')))
    (type $dataset-view' (record
      (field "name" string) (field "genes" (list string)) (field "expression" (option $expression))
      (field "expression-source" string)))
    (export "dataset-view" (type $dataset-view (eq $dataset-view')))
    (type $probe-request' (record
      (field "params" (list (tuple string $param-value))) (field "dataset" $dataset-view) (field "pairs" (list $pair))))
    (export "probe-request" (type $probe-request (eq $probe-request')))
    (type $features' (record (field "columns" (list string)) (field "values" $matrix)))
    (export "features" (type $features (eq $features')))
    (type $param-error' (record (field "key" string) (field "reason" string)))
    (export "param-error" (type $param-error (eq $param-error')))
    (type $file-error' (record (field "location" string) (field "reason" string)))
    (export "file-error" (type $file-error (eq $file-error')))
    (type $error' (variant
      (case "param" $param-error) (case "file" $file-error) (case "invalid" string)
      (case "not-applicable" string) (case "compute" string)))
    (export "error" (type $error (eq $error')))
  ))
  (alias export $types "param-value" (type $param-value))
  (alias export $types "plugin-info" (type $plugin-info))
  (alias export $types "probe-request" (type $probe-request))
  (alias export $types "features" (type $features))
  (alias export $types "error" (type $error))

  (func $describe (result $plugin-info)
    (canon lift (core func $instance "describe") (memory (core memory $instance "memory")) string-encoding=utf8))
  (func $needs-expression (param "params" (list (tuple string $param-value))) (result bool)
    (canon lift (core func $instance "needs-expression") (memory (core memory $instance "memory"))
      (realloc (core func $instance "realloc")) string-encoding=utf8))
  (func $features (param "request" $probe-request) (result (result $features (error $error)))
    (canon lift (core func $instance "features") (memory (core memory $instance "memory"))
      (realloc (core func $instance "realloc")) string-encoding=utf8))
  (export "describe" (func $describe))
  (export "needs-expression" (func $needs-expression))
  (export "features" (func $features))
)
