import Yams

/// A YAML document built in code, in key order, turned into a Yams `Node` for emitting. A
/// string that would read back as something else (`"8081"`, `"true"`) is quoted.
indirect enum YAMLTree: Equatable {
    case map([(String, YAMLTree)])
    case list([YAMLTree])
    case string(String)
    case int(Int)
    case bool(Bool)
    /// A node copied from a composed document, as it was.
    case node(Node)

    static func == (a: YAMLTree, b: YAMLTree) -> Bool { a.node == b.node }

    var node: Node {
        switch self {
        case .map(let pairs):
            return .mapping(Node.Mapping(pairs.map { (YAMLTree.string($0.0).node, $0.1.node) }))
        case .list(let items):
            return .sequence(Node.Sequence(items.map(\.node)))
        case .string(let text):
            if text.contains("\n") { return Node(text, Tag(.str), .literal) }
            return Node(text, Tag(.str), Node(text).tag == Tag(.str) && !text.isEmpty ? .plain : .doubleQuoted)
        case .int(let value):
            return Node(String(value), Tag(.int), .plain)
        case .bool(let value):
            return Node(value ? "true" : "false", Tag(.bool), .plain)
        case .node(let node):
            return node
        }
    }

    /// The entries of a `.map` without nil values (for optional fields).
    static func compact(_ pairs: [(String, YAMLTree?)]) -> YAMLTree {
        .map(pairs.compactMap { key, value in value.map { (key, $0) } })
    }

    /// YAML text of several documents, each starting with `---`.
    static func emit(_ documents: [YAMLTree]) throws -> String {
        try Yams.serialize(nodes: documents.map(\.node), width: -1, explicitStart: true)
    }
}
