/// An expression of the template language, with the line it starts on.
struct Expr: Sendable {
    indirect enum Kind: Sendable {
        case literal(Value)
        case name(String)
        case list([Expr])
        case tuple([Expr])
        case dict([(Expr, Expr)])
        case attribute(Expr, String)
        case item(Expr, Expr)
        case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)
        case call(Expr, Arguments)
        case filter(Expr, String, Arguments)
        case test(Expr, String, Arguments, negated: Bool)
        case negate(Expr)
        case plus(Expr)
        case not(Expr)
        case and(Expr, Expr)
        case or(Expr, Expr)
        case binary(String, Expr, Expr)
        case concat([Expr])
        case compare(Expr, [(String, Expr)])
        case conditional(test: Expr, then: Expr, otherwise: Expr?)
    }

    let kind: Kind
    let line: Int
}

/// Positional and keyword arguments of a call, filter or test.
struct Arguments: Sendable {
    var positional: [Expr] = []
    var keywords: [(String, Expr)] = []

    static let empty = Arguments()
}

/// A `{% macro name(a, b=default) %}` definition.
struct MacroDefinition: Sendable {
    let name: String
    let parameters: [(name: String, defaultValue: Expr?)]
    let body: [Statement]
}

/// What a `{% set %}` assigns to.
enum AssignTarget: Sendable {
    case name(String)
    case names([String])
    case attribute(namespace: String, attribute: String)
}

/// A statement or piece of output of a parsed template, with its line.
struct Statement: Sendable {
    indirect enum Kind: Sendable {
        case text(String)
        case output(Expr)
        case conditional(branches: [(Expr, [Statement])], otherwise: [Statement])
        case loop(ForLoop)
        case assign(AssignTarget, Expr)
        case assignBlock(String, filters: [(String, Arguments)], body: [Statement])
        case macro(MacroDefinition)
        case breakLoop
        case continueLoop
        case filterBlock(filters: [(String, Arguments)], body: [Statement])
        case with(assignments: [(String, Expr)], body: [Statement])
        case generation([Statement])
    }

    let kind: Kind
    let line: Int
}

/// A `{% for targets in iterable if condition %}` loop.
struct ForLoop: Sendable {
    let targets: [String]
    let unpacks: Bool
    let iterable: Expr
    let condition: Expr?
    let body: [Statement]
    let otherwise: [Statement]
}
