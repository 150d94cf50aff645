;; An evaluator component of world ugrn:plugin/evaluator@0.1.0, written by hand like
;; ugrn_probe_wat.wat. Metrics: `positives` (labels that are true) and `mean-score`; an empty
;; score list is an `invalid` error.
;;
;; Memory map: strings from 0x0, plugin-info at 0x100, the metrics list at 0x200 (16-byte
;; records, 8-aligned), the return area at 0x300, a bump heap from 0x1000.
(component
  (core module $evaluator
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 0x1000))

    (data (i32.const 0x000) "evaluator-wat")
    (data (i32.const 0x010) "0.1.0")
    (data (i32.const 0x020) "Test evaluator written in WAT: the number of positive labels and the mean score")
    (data (i32.const 0x080) "positives")
    (data (i32.const 0x090) "mean-score")
    (data (i32.const 0x0a0) "no scores")

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

    ;; plugin-info { name, version, description, params: [] }
    (func (export "describe") (result i32)
      (i32.store (i32.const 0x100) (i32.const 0x000)) (i32.store (i32.const 0x104) (i32.const 13))
      (i32.store (i32.const 0x108) (i32.const 0x010)) (i32.store (i32.const 0x10c) (i32.const 5))
      (i32.store (i32.const 0x110) (i32.const 0x020)) (i32.store (i32.const 0x114) (i32.const 79))
      (i32.store (i32.const 0x118) (i32.const 0)) (i32.store (i32.const 0x11c) (i32.const 0))
      (i32.const 0x100))

    ;; evaluate(params, scores: list<f32>, labels: list<bool>) -> result<evaluation, error> at 0x300
    (func (export "evaluate")
      (param $params i32) (param $params_len i32) (param $scores i32) (param $n i32) (param $labels i32) (param $labels_len i32)
      (result i32)
      (local $k i32) (local $positives i32) (local $sum f64)
      (if (i32.eqz (local.get $n))
        (then
          ;; err(invalid("no scores"))
          (i32.store8 (i32.const 0x300) (i32.const 1))
          (i32.store8 (i32.const 0x304) (i32.const 2))
          (i32.store (i32.const 0x308) (i32.const 0x0a0))
          (i32.store (i32.const 0x30c) (i32.const 9))
          (return (i32.const 0x300))))
      (block $done
        (loop $each
          (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
          (local.set $sum
            (f64.add (local.get $sum)
              (f64.promote_f32 (f32.load (i32.add (local.get $scores) (i32.mul (local.get $k) (i32.const 4)))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $each)))
      (local.set $k (i32.const 0))
      (block $counted
        (loop $label
          (br_if $counted (i32.ge_u (local.get $k) (local.get $labels_len)))
          (local.set $positives
            (i32.add (local.get $positives) (i32.load8_u (i32.add (local.get $labels) (local.get $k)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $label)))
      ;; metric { name, value: f64 }: 16 bytes, value at +8
      (i32.store (i32.const 0x200) (i32.const 0x080)) (i32.store (i32.const 0x204) (i32.const 9))
      (f64.store (i32.const 0x208) (f64.convert_i32_u (local.get $positives)))
      (i32.store (i32.const 0x210) (i32.const 0x090)) (i32.store (i32.const 0x214) (i32.const 10))
      (f64.store (i32.const 0x218) (f64.div (local.get $sum) (f64.convert_i32_u (local.get $n))))
      ;; ok(evaluation { metrics: [2 at 0x200], curves: [] })
      (i32.store8 (i32.const 0x300) (i32.const 0))
      (i32.store (i32.const 0x304) (i32.const 0x200)) (i32.store (i32.const 0x308) (i32.const 2))
      (i32.store (i32.const 0x30c) (i32.const 0)) (i32.store (i32.const 0x310) (i32.const 0))
      (i32.const 0x300))
  )
  (core instance $instance (instantiate $evaluator))

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
    (type $metric' (record (field "name" string) (field "value" f64)))
    (export "metric" (type $metric (eq $metric')))
    (type $point' (record (field "x" f64) (field "y" f64)))
    (export "point" (type $point (eq $point')))
    (type $curve' (record
      (field "name" string) (field "x-label" string) (field "y-label" string) (field "points" (list $point))))
    (export "curve" (type $curve (eq $curve')))
    (type $evaluation' (record (field "metrics" (list $metric)) (field "curves" (list $curve))))
    (export "evaluation" (type $evaluation (eq $evaluation')))
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
  (alias export $types "evaluation" (type $evaluation))
  (alias export $types "error" (type $error))

  (func $describe (result $plugin-info)
    (canon lift (core func $instance "describe") (memory (core memory $instance "memory")) string-encoding=utf8))
  (func $evaluate
    (param "params" (list (tuple string $param-value))) (param "scores" (list f32)) (param "labels" (list bool))
    (result (result $evaluation (error $error)))
    (canon lift (core func $instance "evaluate") (memory (core memory $instance "memory"))
      (realloc (core func $instance "realloc")) string-encoding=utf8))
  (export "describe" (func $describe))
  (export "evaluate" (func $evaluate))
)
