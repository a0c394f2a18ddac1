import Foundation

/// Estimated token counts. JetBrains AI reports quota, not tokens, but strict clients need the
/// integer fields (typed SDKs; Claude Code manages its context window by `input_tokens`), so
/// every front fills them from this one estimator: documented as an estimate, and consistent
/// between the endpoints.
///
/// How it counts: one pass over the text's unicode scalars, no allocation, no regex. Each scalar
/// is put in a class (ASCII letter, digit, punctuation, space, newline, CJK ideograph, kana,
/// hangul, other alphabets, emoji, …) and adds a fixed cost in thousandths of a token, which
/// depends only on its class and on the run of same-class scalars it continues — the way a BPE
/// pre-tokenizer cuts text into words, numbers, punctuation and whitespace before merging. A
/// word costs a token to start and a little per letter past the first few; a space before a word
/// is free (BPE merges it into the word); an ideograph costs about a token of its own. The total
/// is rounded up. Every scalar adds a cost ≥ 0, so a longer text never counts fewer tokens than
/// its prefix.
///
/// The constants in `Cost` are fitted by `scripts/calibrate-tokens.py` against a real BPE
/// tokenizer (Claude's legacy tokenizer, shipped in the `anthropic` 0.34.2 wheel) on the corpus in
/// `Tests/Fixtures/tokens/`, under-counting weighted twice as much as over-counting;
/// `BENCHMARKS.md` ("Token estimate accuracy") has the measured error per kind of text. The script reads and rewrites them, and
/// mirrors this file's logic: change one, re-run the script.
enum TokenEstimator {
    /// Estimated tokens of a text: 0 for an empty text, else at least 1.
    static func count(_ text: String) -> Int {
        guard !text.isEmpty else { return 0 }
        var scanner = Scanner()
        for scalar in text.unicodeScalars { scanner.feed(scalar.value) }
        return max(1, (scanner.milli + 999) / 1000)
    }

    /// Every message's text and tool calls, the tool definitions, and a small overhead per message.
    static func inputTokens(of request: ChatCompletionRequest) -> Int {
        var total = Overhead.reply
        for message in request.messages {
            total += Overhead.message + count(message.role)
            if let name = message.name { total += count(name) }
            if let content = message.content {
                total += count(content.plainText)
                if case .parts(let parts) = content {
                    for part in parts { if case .imageURL = part { total += Overhead.image } }
                }
            }
            for call in message.toolCalls ?? [] {
                total += Overhead.toolCall + count(call.id) + count(call.function.name) + count(call.function.arguments)
            }
            if let call = message.functionCall {
                total += Overhead.toolCall + count(call.name) + count(call.arguments)
            }
            if let id = message.toolCallID { total += count(id) }
        }
        for tool in request.tools ?? [] { total += tokens(of: tool.function) }
        for function in request.functions ?? [] { total += tokens(of: function) }
        return total
    }

    /// The answer's text and tool calls (names and arguments).
    static func outputTokens(of answer: AnswerBuilder) -> Int {
        count(answer.text) + answer.toolCalls.reduce(0) { $0 + Overhead.toolCall + count($1.name) + count($1.arguments) }
    }

    private static func tokens(of function: FunctionDefinition) -> Int {
        Overhead.tool + count(function.name) + count(function.description ?? "") + count(function.parameters?.jsonText ?? "")
    }

    /// Tokens that chat templates add around the text (OpenAI documents 3 per message plus 3 to
    /// prime the reply; the role is counted as text on top). Not measurable here: the upstream
    /// renders its own template and reports no tokens, so these are round, slightly generous numbers.
    enum Overhead {
        static let message = 4
        static let reply = 3
        static let toolCall = 3
        static let tool = 8
        /// An image part. Its real cost depends on its size (Anthropic: about width × height / 750,
        /// up to ~1600; OpenAI high detail: 85 + 170 per 512-px tile), which the estimator does not
        /// decode; a typical screenshot-sized image is about this much.
        static let image = 1_000
    }

    // MARK: - The scanner

    /// What a scalar is, as far as the costs go.
    enum Kind: UInt8, Sendable {
        case lower, upper, accented, mark
        case digit, punct, space, tab, newline, carriageReturn, control
        case cyrillic, alphabet2, alphabet3, ideograph, kana, hangul, widePunct, symbol, joiner, astral
    }

    /// The calibrated costs, in thousandths of a token. `scripts/calibrate-tokens.py` reads and
    /// rewrites the lines between the markers (one `static let name = integer` per line).
    enum Cost {
        // BEGIN CALIBRATED COSTS
        static let wordStart = 1000
        static let wordFree = 8
        static let letterExtra = 250
        static let camelBreak = 630
        static let accented = 2650
        static let mark = 1000
        static let digitStart = 1150
        static let digitExtra = 100
        static let punctStart = 1000
        static let punctExtra = 100
        static let spaceTrail = 1000
        static let indentStart = 50
        static let indentExtra = 0
        static let tab = 780
        static let newlineStart = 1000
        static let newlineExtra = 500
        static let cyrillicStart = 1130
        static let cyrillicExtra = 500
        static let alphabet2Start = 1140
        static let alphabet2Extra = 1200
        static let alphabet3 = 1820
        static let ideograph = 1200
        static let kana = 1090
        static let hangul = 1550
        static let widePunct = 790
        static let symbol = 1250
        static let joiner = 1380
        static let astral = 3150
        // END CALIBRATED COSTS
    }

    /// The class of a scalar value. Ranges are by UTF-8 length and script block, coarse on purpose.
    @inline(__always)
    static func kind(of v: UInt32) -> Kind {
        if v < 0x80 {
            switch v {
            case 0x61...0x7A: return .lower
            case 0x41...0x5A: return .upper
            case 0x30...0x39: return .digit
            case 0x20: return .space
            case 0x0A: return .newline
            case 0x0D: return .carriageReturn
            case 0x09: return .tab
            case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return .punct
            default: return .control
            }
        }
        switch v {
        case 0xD7, 0xF7: return .symbol
        case 0x80...0xBF: return .symbol
        case 0xC0...0x2FF: return .accented
        case 0x300...0x36F: return .mark
        case 0x400...0x52F: return .cyrillic
        case 0x370...0x7FF: return .alphabet2
        case 0x1100...0x11FF: return .hangul
        case 0x800...0x1DFF: return .alphabet3
        case 0x1E00...0x1EFF: return .accented
        case 0x1F00...0x1FFF: return .alphabet3
        case 0x200B...0x200D, 0x2060, 0xFE00...0xFE0F, 0xFEFF: return .joiner
        case 0x2000...0x2BFF: return .symbol
        case 0x2C00...0x2DFF: return .alphabet3
        case 0x2E00...0x2E7F: return .symbol
        case 0x3000...0x303F: return .widePunct
        case 0x3040...0x30FF, 0x31F0...0x31FF: return .kana
        case 0x3130...0x318F: return .hangul
        case 0x2E80...0x33FF: return .ideograph
        case 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF: return .ideograph
        case 0x4DC0...0x4DFF: return .symbol
        case 0xA000...0xABFF: return .alphabet3
        case 0xAC00...0xD7FF: return .hangul
        case 0xE000...0xF8FF: return .symbol
        case 0xFE10...0xFE6F, 0xFF00...0xFF60: return .widePunct
        case 0xFF61...0xFF9F: return .kana
        case 0xFFA0...0xFFDC: return .hangul
        case 0xFB00...0xFEFE: return .alphabet3
        case 0xFFDD...0xFFFF: return .symbol
        default: return .astral
        }
    }

    /// The running state of one pass: the cost so far and the run the last scalar belongs to.
    struct Scanner {
        private(set) var milli = 0
        private var last = Kind.control
        /// Length of the current run: letters of a word, digits of a number, spaces, newlines, …
        private var run = 0

        @inline(__always)
        mutating func feed(_ v: UInt32) {
            let kind = TokenEstimator.kind(of: v)
            switch kind {
            case .lower, .upper, .accented:
                if last == .lower || last == .upper || last == .accented || last == .mark {
                    run += 1
                    if kind == .accented {
                        milli += Cost.accented
                    } else if kind == .upper && last == .lower {
                        milli += Cost.camelBreak
                    } else if run > Cost.wordFree {
                        milli += Cost.letterExtra
                    }
                } else {
                    run = 1
                    milli += kind == .accented ? Cost.wordStart + Cost.accented : Cost.wordStart
                }
            case .mark:
                milli += Cost.mark
            case .digit:
                if last == .digit { run += 1; milli += Cost.digitExtra } else { run = 1; milli += Cost.digitStart }
            case .punct:
                if last == .punct { run += 1; milli += Cost.punctExtra } else { run = 1; milli += Cost.punctStart }
            case .space:
                if last == .space {
                    run += 1
                    milli += run == 2 ? Cost.indentStart : Cost.indentExtra
                } else {
                    run = 1  // free: BPE merges a single space into the token after it
                }
            case .tab:
                milli += Cost.tab
            case .newline, .carriageReturn:
                if last == .space && run == 1 { milli += Cost.spaceTrail }
                if last == .carriageReturn && kind == .newline {
                    // "\r\n" is one line break.
                } else if last == .newline || last == .carriageReturn {
                    run += 1
                    milli += Cost.newlineExtra
                } else {
                    run = 1
                    milli += Cost.newlineStart
                }
            case .cyrillic:
                if last == .cyrillic { run += 1; milli += Cost.cyrillicExtra } else { run = 1; milli += Cost.cyrillicStart }
            case .alphabet2:
                if last == .alphabet2 { run += 1; milli += Cost.alphabet2Extra } else { run = 1; milli += Cost.alphabet2Start }
            case .alphabet3: milli += Cost.alphabet3
            case .ideograph: milli += Cost.ideograph
            case .kana: milli += Cost.kana
            case .hangul: milli += Cost.hangul
            case .widePunct: milli += Cost.widePunct
            case .symbol: milli += Cost.symbol
            case .joiner: milli += Cost.joiner
            case .astral: milli += Cost.astral
            case .control: milli += Cost.punctStart
            }
            last = kind
        }
    }
}
