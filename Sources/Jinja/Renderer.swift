import Foundation

/// Walks a parsed template with one render's state: variable frames, namespaces, loop depth.
///
/// Scoping follows Jinja: each loop iteration and each macro call gets a fresh frame (a `set` inside
/// them does not leak out, nor into the next iteration); `if` blocks share their enclosing frame.
struct Renderer {
    /// Deepest nesting of blocks, expressions and macro calls while rendering (guards the stack).
    static let maxRenderDepth = 256

    enum Flow {
        case normal, breakLoop, continueLoop
    }

    /// Most loop iterations and output bytes one render may produce (hostile templates end with an error).
    static let maxIterations = 1_000_000
    static let maxOutputBytes = 64 << 20

    var frames: [[String: Value]]
    var iterations = 0
    var namespaces: [Value.Object] = []
    var line = 0
    var depth = 0
    var loopDepth = 0

    init(context: [String: Value]) {
        frames = [context]
    }

    // MARK: - Errors

    func error(_ kind: TemplateError.Kind, _ message: String) -> TemplateError {
        TemplateError(kind, line: line, message)
    }

    func typeError(_ message: String) -> TemplateError { error(.type, message) }

    /// Widest padding a filter or format may ask for (`center(10**9)` would otherwise allocate gigabytes).
    static let maxWidth = 100_000

    func checkWidth(_ width: Int) throws {
        if width > Renderer.maxWidth { throw error(.security, "width \(width) is larger than \(Renderer.maxWidth)") }
    }

    func outputTooLarge() -> TemplateError {
        error(.security, "output larger than \(Renderer.maxOutputBytes >> 20) MiB")
    }

    func undefinedError(_ value: Value) -> TemplateError {
        if case .undefined(let message) = value { return error(.undefined, message) }
        return error(.undefined, "value is undefined")
    }

    // MARK: - Statements

    mutating func execute(_ body: [Statement], into out: inout String) throws -> Flow {
        depth += 1
        defer { depth -= 1 }
        if depth > Renderer.maxRenderDepth {
            throw error(.security, "rendering nested deeper than \(Renderer.maxRenderDepth) levels")
        }
        for statement in body {
            line = statement.line
            switch statement.kind {
            case .text(let s):
                out += s
                if out.utf8.count > Renderer.maxOutputBytes { throw outputTooLarge() }
            case .output(let expr):
                let value = try eval(expr)
                out += value.pythonStr
                if out.utf8.count > Renderer.maxOutputBytes { throw outputTooLarge() }
            case .conditional(let branches, let otherwise):
                var taken = false
                for (condition, branch) in branches {
                    line = condition.line
                    if try eval(condition).truthy {
                        taken = true
                        let flow = try execute(branch, into: &out)
                        if flow != .normal { return flow }
                        break
                    }
                }
                if !taken {
                    let flow = try execute(otherwise, into: &out)
                    if flow != .normal { return flow }
                }
            case .loop(let loop):
                try runLoop(loop, into: &out)
            case .assign(let target, let expr):
                try assign(target, try eval(expr))
            case .assignBlock(let name, let filters, let body):
                var captured = ""
                _ = try execute(body, into: &captured)
                var value = Value.string(captured)
                for (filter, args) in filters {
                    line = statement.line
                    value = try applyFilter(filter, to: value, args)
                }
                frames[frames.count - 1][name] = value
            case .macro(let definition):
                frames[frames.count - 1][definition.name] = .opaque(Opaque(.macro(definition)))
            case .breakLoop:
                guard loopDepth > 0 else { throw error(.syntax, "'break' outside of a loop") }
                return .breakLoop
            case .continueLoop:
                guard loopDepth > 0 else { throw error(.syntax, "'continue' outside of a loop") }
                return .continueLoop
            case .filterBlock(let filters, let body):
                var captured = ""
                let flow = try execute(body, into: &captured)
                var value = Value.string(captured)
                for (filter, args) in filters {
                    line = statement.line
                    value = try applyFilter(filter, to: value, args)
                }
                out += value.pythonStr
                if flow != .normal { return flow }
            case .with(let assignments, let body):
                var frame: [String: Value] = [:]
                for (name, expr) in assignments { frame[name] = try eval(expr) }
                frames.append(frame)
                defer { frames.removeLast() }
                let flow = try execute(body, into: &out)
                if flow != .normal { return flow }
            case .generation(let body):
                let flow = try execute(body, into: &out)
                if flow != .normal { return flow }
            }
        }
        return .normal
    }

    mutating func assign(_ target: AssignTarget, _ value: Value) throws {
        switch target {
        case .name(let name):
            frames[frames.count - 1][name] = value
        case .names(let names):
            let parts = try unpack(value, count: names.count)
            for (name, part) in zip(names, parts) { frames[frames.count - 1][name] = part }
        case .attribute(let namespaceName, let attribute):
            guard case .opaque(let o) = lookup(namespaceName), case .namespace(let id) = o.kind else {
                throw typeError("cannot assign attribute on non-namespace object '\(namespaceName)'")
            }
            if attribute.hasPrefix("_") {
                throw error(
                    .security,
                    "chat templates cannot store underscore-prefixed attributes on a namespace, "
                        + "but got '\(attribute)'")
            }
            namespaces[id][attribute] = value
        }
    }

    /// The elements a loop or an unpacking walks over (Python's `iter`).
    func iterate(_ value: Value) throws -> [Value] {
        switch value {
        case .array(let a), .tuple(let a): return a
        case .object(let o): return o.keys.map { .string($0) }
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw typeError("'\(value.typeName)' object is not iterable")
        }
    }

    func unpack(_ value: Value, count: Int) throws -> [Value] {
        let parts = try iterate(value)
        if parts.count < count {
            throw typeError("not enough values to unpack (expected \(count), got \(parts.count))")
        }
        if parts.count > count { throw typeError("too many values to unpack (expected \(count))") }
        return parts
    }

    private mutating func bindTargets(_ loop: ForLoop, _ item: Value, into frame: inout [String: Value]) throws {
        if loop.unpacks {
            let parts = try unpack(item, count: loop.targets.count)
            for (name, part) in zip(loop.targets, parts) { frame[name] = part }
        } else if let name = loop.targets.first {
            frame[name] = item
        }
    }

    mutating func runLoop(_ loop: ForLoop, into out: inout String) throws {
        let loopLine = line
        var items = try iterate(try eval(loop.iterable))
        if let condition = loop.condition {
            var kept: [Value] = []
            for item in items {
                var frame: [String: Value] = [:]
                try bindTargets(loop, item, into: &frame)
                frames.append(frame)
                defer { frames.removeLast() }
                if try eval(condition).truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            frames.append([:])
            defer { frames.removeLast() }
            _ = try execute(loop.otherwise, into: &out)
            return
        }
        loopDepth += 1
        defer { loopDepth -= 1 }
        for (i, item) in items.enumerated() {
            line = loopLine
            iterations += 1
            if iterations > Renderer.maxIterations {
                throw error(.security, "more than \(Renderer.maxIterations) loop iterations")
            }
            var frame: [String: Value] = [:]
            try bindTargets(loop, item, into: &frame)
            let state = LoopState(
                index0: i, length: items.count,
                previous: i > 0 ? items[i - 1] : .undefined("there is no previous item"),
                next: i + 1 < items.count ? items[i + 1] : .undefined("there is no next item"),
                depth0: loopDepth - 1)
            frame["loop"] = .opaque(Opaque(.loop(state)))
            frames.append(frame)
            defer { frames.removeLast() }
            let flow = try execute(loop.body, into: &out)
            if flow == .breakLoop { break }
        }
    }

    // MARK: - Names

    func lookup(_ name: String) -> Value {
        var i = frames.count - 1
        while i >= 0 {
            if let v = frames[i][name] { return v }
            i -= 1
        }
        if Renderer.builtins.contains(name) { return .opaque(Opaque(.builtin(name))) }
        return .undefined("'\(name)' is undefined")
    }

    static let builtins: Set<String> = ["range", "namespace", "dict", "raise_exception", "strftime_now"]

    // MARK: - Expressions

    /// Evaluates an expression. An error keeps the line of the innermost failing expression; on success
    /// the caller's line is restored, so errors of the caller itself name the caller's line.
    mutating func eval(_ expr: Expr) throws -> Value {
        depth += 1
        defer { depth -= 1 }
        if depth > Renderer.maxRenderDepth {
            throw error(.security, "rendering nested deeper than \(Renderer.maxRenderDepth) levels")
        }
        let callerLine = line
        line = expr.line
        let value = try evalNode(expr)
        line = callerLine
        return value
    }

    private mutating func evalNode(_ expr: Expr) throws -> Value {
        switch expr.kind {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map { try eval($0) })
        case .tuple(let items): return .tuple(try items.map { try eval($0) })
        case .dict(let pairs):
            var object = Value.Object()
            for (k, v) in pairs {
                let key = try eval(k)
                guard case .string(let s) = key else {
                    throw error(.unsupported, "unsupported dict key of type '\(key.typeName)' (only strings)")
                }
                object[s] = try eval(v)
            }
            return .object(object)
        case .attribute(let target, let name):
            return try attribute(try eval(target), name)
        case .item(let target, let index):
            return try item(try eval(target), try eval(index))
        case .slice(let target, let start, let stop, let step):
            let value = try eval(target)
            return try slice(
                value, start: try start.map { try eval($0) }, stop: try stop.map { try eval($0) },
                step: try step.map { try eval($0) })
        case .call(let callee, let args):
            return try evalCall(callee, args)
        case .filter(let target, let name, let args):
            return try applyFilter(name, to: try eval(target), args)
        case .test(let target, let name, let args, let negated):
            let result = try applyTest(name, to: try eval(target), args)
            return .bool(result != negated)
        case .negate(let inner):
            let v = try eval(inner)
            switch v {
            case .int(let i):
                guard i != Int.min else { throw typeError("integer overflow") }
                return .int(-i)
            case .bool(let b): return .int(b ? -1 : 0)
            case .double(let d): return .double(-d)
            case .undefined: throw undefinedError(v)
            default: throw typeError("bad operand type for unary -: '\(v.typeName)'")
            }
        case .plus(let inner):
            let v = try eval(inner)
            switch v {
            case .int, .double: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .undefined: throw undefinedError(v)
            default: throw typeError("bad operand type for unary +: '\(v.typeName)'")
            }
        case .not(let inner):
            return .bool(!(try eval(inner)).truthy)
        case .and(let l, let r):
            let left = try eval(l)
            return left.truthy ? try eval(r) : left
        case .or(let l, let r):
            let left = try eval(l)
            return left.truthy ? left : try eval(r)
        case .binary(let op, let l, let r):
            return try Operators.binary(op, try eval(l), try eval(r), self)
        case .concat(let parts):
            var s = ""
            for p in parts { s += try eval(p).pythonStr }
            return .string(s)
        case .compare(let first, let ops):
            var left = try eval(first)
            for (op, rightExpr) in ops {
                let right = try eval(rightExpr)
                if !(try Operators.compare(op, left, right, self)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let test, let then, let otherwise):
            if try eval(test).truthy { return try eval(then) }
            if let otherwise { return try eval(otherwise) }
            return .undefined("the inline if-expression evaluated to false and no else section was defined")
        }
    }

    // MARK: - Attribute and item access

    static let dictMethods: Set<String> = ["items", "keys", "values", "get"]
    static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper", "lower", "title",
        "capitalize", "replace", "find", "rfind", "index", "rindex", "count", "join", "format", "splitlines",
        "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "isnumeric", "isdecimal", "swapcase",
        "casefold", "zfill", "ljust", "rjust", "center", "partition", "rpartition", "removeprefix", "removesuffix",
    ]
    static let listMethods: Set<String> = ["index", "count"]
    static let mutatingMethods: Set<String> = [
        "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear", "update", "setdefault",
        "popitem",
    ]

    /// `value.name` (Jinja's sandboxed getattr: Python attribute first, then the item).
    func attribute(_ value: Value, _ name: String) throws -> Value {
        switch value {
        case .undefined:
            throw undefinedError(value)
        case .object(let o):
            if Renderer.dictMethods.contains(name) { return .opaque(Opaque(.boundMethod(receiver: value, name: name))) }
            if Renderer.mutatingMethods.contains(name) {
                throw error(.security, "access to attribute '\(name)' of 'dict' object is unsafe.")
            }
            if let v = o[name] { return v }
        case .string:
            if Renderer.stringMethods.contains(name) {
                return .opaque(Opaque(.boundMethod(receiver: value, name: name)))
            }
        case .array, .tuple:
            if Renderer.listMethods.contains(name) {
                return .opaque(Opaque(.boundMethod(receiver: value, name: name)))
            }
            if Renderer.mutatingMethods.contains(name) {
                throw error(.security, "access to attribute '\(name)' of '\(value.typeName)' object is unsafe.")
            }
        case .opaque(let o):
            switch o.kind {
            case .namespace(let id):
                if let v = namespaces[id][name] { return v }
            case .loop(let state):
                if let v = Renderer.loopAttribute(state, name) { return v }
                if name == "cycle" { return .opaque(Opaque(.boundMethod(receiver: value, name: name))) }
                if name == "changed" || name == "__call__" {
                    throw error(.unsupported, "unsupported feature 'loop.\(name)'")
                }
            default: break
            }
        case .int, .bool, .double:
            if name == "real" { return value.integer.map { .int($0) } ?? value }
            if name == "imag" {
                if case .double = value { return .double(0) }
                return .int(0)
            }
        default: break
        }
        return .undefined("'\(value.objectTypeRepr)' has no attribute '\(name)'")
    }

    static func loopAttribute(_ s: LoopState, _ name: String) -> Value? {
        switch name {
        case "index": return .int(s.index0 + 1)
        case "index0": return .int(s.index0)
        case "revindex": return .int(s.length - s.index0)
        case "revindex0": return .int(s.length - s.index0 - 1)
        case "first": return .bool(s.index0 == 0)
        case "last": return .bool(s.index0 == s.length - 1)
        case "length": return .int(s.length)
        case "previtem": return s.previous
        case "nextitem": return s.next
        case "depth": return .int(s.depth0 + 1)
        case "depth0": return .int(s.depth0)
        default: return nil
        }
    }

    /// `value[index]` (Jinja's getitem: the item first, then a string index as an attribute).
    func item(_ value: Value, _ index: Value) throws -> Value {
        switch value {
        case .undefined:
            throw undefinedError(value)
        case .object(let o):
            if case .string(let k) = index, let v = o[k] { return v }
        case .array(let a), .tuple(let a):
            if let i = index.integer {
                let j = i < 0 ? i + a.count : i
                if j >= 0 && j < a.count { return a[j] }
            }
        case .string(let s):
            if let i = index.integer {
                let scalars = Array(s.unicodeScalars)
                let j = i < 0 ? i + scalars.count : i
                if j >= 0 && j < scalars.count { return .string(String(scalars[j])) }
            }
        default: break
        }
        if case .string(let name) = index { return try attribute(value, name) }
        return .undefined("\(value.objectTypeRepr) has no element \(index.pythonRepr)")
    }

    /// Python slicing of lists, tuples and strings (by code points).
    func slice(_ value: Value, start: Value?, stop: Value?, step: Value?) throws -> Value {
        func bound(_ v: Value?) throws -> Int? {
            guard let v else { return nil }
            if case .none = v { return nil }
            guard let i = v.integer else {
                throw typeError("slice indices must be integers or None, not \(v.typeName)")
            }
            return i
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw typeError("slice step cannot be zero") }
        func indices(_ count: Int) throws -> [Int] {
            var lo: Int
            var hi: Int
            if stepValue > 0 {
                lo = try bound(start).map { $0 < 0 ? max(0, $0 + count) : min($0, count) } ?? 0
                hi = try bound(stop).map { $0 < 0 ? max(0, $0 + count) : min($0, count) } ?? count
                return lo < hi ? Array(stride(from: lo, to: hi, by: stepValue)) : []
            }
            lo = try bound(start).map { $0 < 0 ? max(-1, $0 + count) : min($0, count - 1) } ?? (count - 1)
            hi = try bound(stop).map { $0 < 0 ? max(-1, $0 + count) : min($0, count - 1) } ?? -1
            return lo > hi ? Array(stride(from: lo, to: hi, by: stepValue)) : []
        }
        switch value {
        case .array(let a): return .array(try indices(a.count).map { a[$0] })
        case .tuple(let a): return .tuple(try indices(a.count).map { a[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in try indices(scalars.count) { out.append(scalars[i]) }
            return .string(String(out))
        case .undefined: throw undefinedError(value)
        default: throw typeError("'\(value.typeName)' object is not subscriptable")
        }
    }

    // MARK: - Calls

    mutating func evalArguments(_ args: Arguments) throws -> (positional: [Value], keywords: [(String, Value)]) {
        (try args.positional.map { try eval($0) }, try args.keywords.map { ($0.0, try eval($0.1)) })
    }

    mutating func evalCall(_ calleeExpr: Expr, _ args: Arguments) throws -> Value {
        let callee = try eval(calleeExpr)
        let (positional, keywords) = try evalArguments(args)
        return try call(callee, positional, keywords)
    }

    mutating func call(_ callee: Value, _ positional: [Value], _ keywords: [(String, Value)]) throws -> Value {
        switch callee {
        case .undefined:
            throw undefinedError(callee)
        case .opaque(let o):
            switch o.kind {
            case .builtin(let name):
                return try callBuiltin(name, positional, keywords)
            case .macro(let definition):
                return try callMacro(definition, positional, keywords)
            case .boundMethod(let receiver, let name):
                return try callMethod(receiver, name, positional, keywords)
            case .namespace, .loop:
                throw typeError("'\(callee.typeName)' object is not callable")
            }
        default:
            throw typeError("'\(callee.typeName)' object is not callable")
        }
    }

    mutating func callMacro(_ m: MacroDefinition, _ positional: [Value], _ keywords: [(String, Value)]) throws
        -> Value
    {
        if positional.count > m.parameters.count {
            throw typeError("macro '\(m.name)' takes not more than \(m.parameters.count) argument(s)")
        }
        let callLine = line
        var frame: [String: Value] = [:]
        for (i, p) in m.parameters.enumerated() where i < positional.count { frame[p.name] = positional[i] }
        for (k, v) in keywords {
            guard m.parameters.contains(where: { $0.name == k }) else {
                throw typeError("macro '\(m.name)' takes no keyword argument '\(k)'")
            }
            frame[k] = v
        }
        let saved = frames
        frames = [frames[0], frame]
        defer {
            frames = saved
            line = callLine
        }
        for p in m.parameters where frame[p.name] == nil {
            if let d = p.defaultValue {
                let v = try eval(d)
                frame[p.name] = v
                frames[1][p.name] = v
            } else {
                frames[1][p.name] = .undefined("parameter '\(p.name)' was not provided")
            }
        }
        var out = ""
        _ = try execute(m.body, into: &out)
        return .string(out)
    }

    mutating func callBuiltin(_ name: String, _ positional: [Value], _ keywords: [(String, Value)]) throws -> Value {
        switch name {
        case "raise_exception":
            let message = positional.first ?? keywords.first?.1 ?? Value.none
            throw error(.raised, message.pythonStr)
        case "strftime_now":
            guard case .string(let format) = positional.first ?? Value.none else {
                throw typeError("strftime_now() argument must be a string")
            }
            return .string(Strftime.now(format))
        case "namespace":
            var object = Value.Object()
            for p in positional {
                switch p {
                case .object(let o): for (k, v) in o.pairs { object[k] = v }
                default: throw typeError("namespace() positional argument must be a mapping")
                }
            }
            for (k, v) in keywords { object[k] = v }
            for k in object.keys where k.hasPrefix("_") {
                throw error(
                    .security,
                    "chat templates cannot store underscore-prefixed attributes on a namespace, "
                        + "but got '\(k)'")
            }
            namespaces.append(object)
            return .opaque(Opaque(.namespace(namespaces.count - 1)))
        case "dict":
            var object = Value.Object()
            if positional.count > 1 { throw typeError("dict expected at most 1 argument, got \(positional.count)") }
            if let p = positional.first {
                switch p {
                case .object(let o): object = o
                default:
                    for pair in try iterate(p) {
                        let kv = try unpack(pair, count: 2)
                        guard case .string(let k) = kv[0] else {
                            throw error(.unsupported, "unsupported dict key of type '\(kv[0].typeName)'")
                        }
                        object[k] = kv[1]
                    }
                }
            }
            for (k, v) in keywords { object[k] = v }
            return .object(object)
        case "range":
            let ints = try positional.map { v -> Int in
                guard let i = v.integer else {
                    throw typeError("'\(v.typeName)' object cannot be interpreted as an integer")
                }
                return i
            }
            var start = 0
            var stop = 0
            var step = 1
            switch ints.count {
            case 1: stop = ints[0]
            case 2: (start, stop) = (ints[0], ints[1])
            case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
            default: throw typeError("range expected 1 to 3 arguments, got \(ints.count)")
            }
            guard step != 0 else { throw typeError("range() arg 3 must not be zero") }
            let span = step > 0 ? stop.subtractingReportingOverflow(start) : start.subtractingReportingOverflow(stop)
            let count: Int
            if span.overflow {
                count = Int.max
            } else if span.partialValue <= 0 {
                count = 0
            } else {
                count = Int(min(UInt(span.partialValue - 1) / step.magnitude + 1, UInt(Int.max)))
            }
            if count > 100_000 {
                throw error(.security, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).")
            }
            return .array((0..<count).map { .int(start + $0 * step) })
        default:
            throw error(.unsupported, "unsupported function '\(name)'")
        }
    }
}

/// `strftime` on the current local time, with Python's `%f` (microseconds) added.
enum Strftime {
    static func now(_ format: String) -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        var seconds = tv.tv_sec
        var parts = tm()
        localtime_r(&seconds, &parts)
        let micro = String(format: "%06d", Int(tv.tv_usec))
        let fmt = format.replacingOccurrences(of: "%f", with: micro)
        var buffer = [Int8](repeating: 0, count: 1024 + fmt.utf8.count * 8)
        let n = strftime(&buffer, buffer.count, fmt, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
