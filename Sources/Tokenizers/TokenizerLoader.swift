/// Reads the components of a `tokenizer.json` value, with key paths in every error.
struct TokenizerLoader {
    let file: String

    struct Parts {
        var normalizer: Normalizer?
        var preTokenizer: PreTokenizer?
        var model: BPEModel
        var postProcessor: PostProcessor?
        var decoder: Decoder?
        var added: AddedVocabulary
    }

    func load(_ json: JSON) throws -> Parts {
        let root = JSONReader(json, path: "", file: file)
        guard case .object = json else { throw root.error("expected an object, found \(json.typeName)") }
        let normalizer = try root.optional("normalizer").map(normalizer)
        let preTokenizer = try root.optional("pre_tokenizer").map(preTokenizer)
        let model = try self.model(try root.required("model"))
        var added = AddedVocabulary()
        if let list = try root.optional("added_tokens") {
            for item in try list.array {
                try addToken(item, to: &added, model: model)
            }
        }
        let post = try root.optional("post_processor").map { try postProcessor($0, model: model, added: added) }
        let decoder = try root.optional("decoder").map(decoder)
        return Parts(normalizer: normalizer, preTokenizer: preTokenizer, model: model, postProcessor: post,
                     decoder: decoder, added: added)
    }

    // MARK: - Added tokens

    private func addToken(_ r: JSONReader, to added: inout AddedVocabulary, model: BPEModel) throws {
        let content = try r.string("content")
        let special = try r.bool("special", default: false)
        _ = try r.optional("id")?.int
        guard !content.isEmpty else { return }
        if added.byContent[TokenKey(content)] != nil { return }
        // The library assigns ids itself: the model's id when the content is in the vocabulary,
        // else the next free id after the model's vocabulary and the earlier added tokens.
        let id: Int32
        if let m = model.vocab[content] {
            id = m
        } else if let maxAdded = added.tokens.map(\.id).max() {
            let vocabCount = Int32(model.vocab.count)
            id = (maxAdded >= vocabCount || vocabCount == 0) ? maxAdded + 1 : vocabCount
        } else {
            id = Int32(model.vocab.count)
        }
        let token = AddedToken(
            id: id, content: content, special: special,
            singleWord: try r.bool("single_word", default: false), lstrip: try r.bool("lstrip", default: false),
            rstrip: try r.bool("rstrip", default: false), normalized: try r.bool("normalized", default: !special))
        added.byContent[TokenKey(content)] = added.tokens.count
        added.byId[id] = added.tokens.count
        added.tokens.append(token)
    }

    // MARK: - Model

    private func model(_ r: JSONReader) throws -> BPEModel {
        let type = try r.optionalString("type")
        if let type, type != "BPE" {
            let known = ["WordPiece", "Unigram", "WordLevel"]
            let what = known.contains(type) ? "\(type) models are not supported (only BPE)"
                : "unknown model type '\(type)'"
            throw JSONReader(r.value, path: r.childPath("type"), file: file).unsupported(what)
        }
        if type == nil, try r.optional("merges") == nil {
            throw r.unsupported("a model without 'type' or 'merges' (only BPE models are supported)")
        }
        if let dropout = try r.optional("dropout"), try dropout.double != 0 {
            throw dropout.unsupported("BPE dropout is not supported (must be null)")
        }
        let vocabReader = try r.required("vocab")
        let pairs = try vocabReader.objectPairs
        var vocab = Vocabulary(minimumCapacity: pairs.count)
        for (key, value) in pairs {
            guard case .number(let d) = value, d == d.rounded(), d >= 0, d < 2_147_483_647 else {
                throw JSONReader(value, path: "\(vocabReader.path)[\(Regex.quote(key))]", file: file)
                    .error("expected a token id (a non-negative integer), found \(value.typeName)")
            }
            vocab[key] = Int32(d)
        }
        var merges: [(String, String)] = []
        if let m = try r.optional("merges") {
            guard case .array(let items) = m.value else {
                throw m.error("expected an array, found \(m.value.typeName)")
            }
            merges.reserveCapacity(items.count)
            for (k, item) in items.enumerated() {
                switch item {
                case .string(let s):
                    // Split the bytes: a space followed by a combining mark is one Character.
                    let parts = s.utf8.split(separator: 0x20, omittingEmptySubsequences: false)
                        .map { String(decoding: $0, as: UTF8.self) }
                    guard parts.count == 2 else {
                        throw JSONReader(item, path: "\(m.path)[\(k)]", file: file)
                            .error("expected 'left right' (two tokens separated by one space)")
                    }
                    merges.append((String(parts[0]), String(parts[1])))
                case .array(let pair):
                    guard pair.count == 2, case .string(let a) = pair[0], case .string(let b) = pair[1] else {
                        throw JSONReader(item, path: "\(m.path)[\(k)]", file: file)
                            .error("expected a string or a pair of strings")
                    }
                    merges.append((a, b))
                default:
                    throw JSONReader(item, path: "\(m.path)[\(k)]", file: file)
                        .error("expected a string or a pair of strings")
                }
            }
        }
        let mergesPath = r.childPath("merges")
        let unk = try r.optionalString("unk_token")
        let model = try BPEModel(
            vocab: vocab, merges: merges, unkToken: unk,
            byteFallback: try r.bool("byte_fallback", default: false), fuseUnk: try r.bool("fuse_unk", default: false),
            ignoreMerges: try r.bool("ignore_merges", default: false),
            prefix: try r.optionalString("continuing_subword_prefix"),
            suffix: try r.optionalString("end_of_word_suffix"),
            mergeError: { rank, message in
                TokenizerError(.invalidValue, path: file, "\(mergesPath)[\(rank)]: \(message)")
            },
            unkError: { r.error("unk_token is not in the vocabulary") })
        return model
    }

    // MARK: - Patterns

    private func pattern(_ r: JSONReader) throws -> Pattern {
        if let s = try r.optional("String") {
            return .literal(try s.string.unicodeScalars.map(\.value))
        }
        if let re = try r.optional("Regex") {
            let text = try re.string
            return .regex(try Regex(text) { re.unsupported($0) })
        }
        throw r.error("expected {\"String\": ...} or {\"Regex\": ...}")
    }

    private func singleScalar(_ r: JSONReader) throws -> UInt32 {
        let s = try r.string
        let scalars = Array(s.unicodeScalars)
        guard scalars.count == 1 else { throw r.error("expected a single character, found '\(s)'") }
        return scalars[0].value
    }

    private func unknownType(_ r: JSONReader, _ kind: String, _ type: String) -> TokenizerError {
        let unsupported = ["Precompiled", "Nmt", "UnicodeScripts", "FixedLength", "CTC", "Template"]
        let what = unsupported.contains(type)
            ? "the \(kind) \(type) is not supported" : "unknown \(kind) type '\(type)'"
        return JSONReader(r.value, path: r.childPath("type"), file: file).unsupported(what)
    }

    // MARK: - Normalizers

    private func normalizer(_ r: JSONReader) throws -> Normalizer {
        let type = try r.typeField()
        switch type {
        case "NFC": return .unicode(.nfc)
        case "NFD": return .unicode(.nfd)
        case "NFKC": return .unicode(.nfkc)
        case "NFKD": return .unicode(.nfkd)
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "ByteLevel": return .byteLevel
        case "Replace":
            return .replace(try pattern(try r.required("pattern")), try r.string("content").unicodeScalars.map(\.value))
        case "Prepend":
            return .prepend(try r.string("prepend").unicodeScalars.map(\.value))
        case "Strip":
            return .strip(left: try r.bool("strip_left", default: true),
                          right: try r.bool("strip_right", default: true))
        case "BertNormalizer":
            let lower = try r.bool("lowercase", default: true)
            return .bert(cleanText: try r.bool("clean_text", default: true),
                         chineseChars: try r.bool("handle_chinese_chars", default: true),
                         stripAccents: try r.optional("strip_accents")?.bool ?? lower, lowercase: lower)
        case "Sequence":
            return .sequence(try r.required("normalizers").array.map(normalizer))
        default:
            throw unknownType(r, "normalizer", type)
        }
    }

    // MARK: - Pre-tokenizers

    private func behavior(_ r: JSONReader?, default def: SplitBehavior) throws -> SplitBehavior {
        guard let r else { return def }
        let s = try r.string
        guard let b = SplitBehavior(rawValue: s) else {
            throw r.error("unknown behavior '\(s)' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext "
                + "or Contiguous)")
        }
        return b
    }

    private func prependScheme(_ r: JSONReader) throws -> PreTokenizer.PrependScheme {
        if let p = try r.optional("prepend_scheme") {
            let s = try p.string
            guard let scheme = PreTokenizer.PrependScheme(rawValue: s) else {
                throw p.error("unknown prepend_scheme '\(s)' (expected always, first or never)")
            }
            return scheme
        }
        if let legacy = try r.optional("add_prefix_space") { return try legacy.bool ? .always : .never }
        return .always
    }

    private func preTokenizer(_ r: JSONReader) throws -> PreTokenizer {
        let type = try r.typeField()
        switch type {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try r.bool("add_prefix_space", default: true),
                              useRegex: try r.bool("use_regex", default: true))
        case "Split":
            return .split(try pattern(try r.required("pattern")),
                          try behavior(try r.required("behavior"), default: .removed),
                          invert: try r.bool("invert", default: false))
        case "Digits":
            return .digits(individual: try r.bool("individual_digits", default: false))
        case "Metaspace":
            return .metaspace(replacement: try singleScalar(try r.required("replacement")),
                              prepend: try prependScheme(r), split: try r.bool("split", default: true))
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "BertPreTokenizer": return .bert
        case "Punctuation":
            return .punctuation(try behavior(try r.optional("behavior"), default: .isolated))
        case "CharDelimiterSplit":
            return .charDelimiter(try singleScalar(try r.required("delimiter")))
        case "Sequence":
            return .sequence(try r.required("pretokenizers").array.map(preTokenizer))
        default:
            throw unknownType(r, "pre-tokenizer", type)
        }
    }

    // MARK: - Post-processors

    private func tokenPair(_ r: JSONReader) throws -> (String, Int32) {
        let items = try r.array
        guard items.count == 2 else { throw r.error("expected [token, id]") }
        return (try items[0].string, Int32(try items[1].int))
    }

    private func postProcessor(_ r: JSONReader, model: BPEModel, added: AddedVocabulary) throws -> PostProcessor {
        let type = try r.typeField()
        switch type {
        case "ByteLevel":
            return .byteLevel(trimOffsets: try r.bool("trim_offsets", default: true),
                              addPrefixSpace: try r.bool("add_prefix_space", default: true))
        case "RobertaProcessing":
            return .roberta(cls: try tokenPair(try r.required("cls")), sep: try tokenPair(try r.required("sep")),
                            trimOffsets: try r.bool("trim_offsets", default: true),
                            addPrefixSpace: try r.bool("add_prefix_space", default: true))
        case "BertProcessing":
            return .bert(cls: try tokenPair(try r.required("cls")), sep: try tokenPair(try r.required("sep")))
        case "Sequence":
            let items = try r.required("processors").array
            return .sequence(try items.map { try postProcessor($0, model: model, added: added) })
        case "TemplateProcessing":
            var specials: [String: ([Int32], [String])] = [:]
            if let map = try r.optional("special_tokens") {
                for (name, value) in try map.objectPairs {
                    let entry = JSONReader(value, path: "\(map.path).\(name)", file: file)
                    let ids = try entry.required("ids").array.map { Int32(try $0.int) }
                    let tokens = try entry.required("tokens").array.map { try $0.string }
                    guard ids.count == tokens.count else { throw entry.error("ids and tokens differ in length") }
                    specials[name] = (ids, tokens)
                }
            }
            let single = try r.required("single")
            var pieces: [PostProcessor.TemplatePiece] = []
            func special(_ name: String, _ at: JSONReader) throws -> PostProcessor.TemplatePiece {
                guard let s = specials[name] else {
                    throw at.error("special token '\(name)' is not in special_tokens")
                }
                return .special(ids: s.0, tokens: s.1)
            }
            if case .string(let text) = single.value {
                for word in text.split(separator: " ") {
                    let name = word.split(separator: ":").first.map(String.init) ?? String(word)
                    if name.hasPrefix("$") {
                        pieces.append(.sequence)
                    } else {
                        pieces.append(try special(name, single))
                    }
                }
            } else {
                for item in try single.array {
                    if let s = try item.optional("SpecialToken") {
                        pieces.append(try special(try s.string("id"), s))
                    } else if try item.optional("Sequence") != nil {
                        pieces.append(.sequence)
                    } else {
                        throw item.error("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}")
                    }
                }
            }
            return .template(single: pieces)
        default:
            throw unknownType(r, "post-processor", type)
        }
    }

    // MARK: - Decoders

    private func decoder(_ r: JSONReader) throws -> Decoder {
        let type = try r.typeField()
        switch type {
        case "ByteLevel": return .byteLevel
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Metaspace":
            let rep = try singleScalar(try r.required("replacement"))
            return .metaspace(replacement: Unicode.Scalar(rep) ?? "_", prependScheme: try prependScheme(r))
        case "Replace":
            return .replace(try pattern(try r.required("pattern")), try r.string("content"))
        case "Strip":
            let c = try singleScalar(try r.required("content"))
            return .strip(content: Unicode.Scalar(c) ?? " ", start: try r.int("start", default: 0),
                          stop: try r.int("stop", default: 0))
        case "WordPiece":
            return .wordPiece(prefix: try r.optionalString("prefix") ?? "##",
                              cleanup: try r.bool("cleanup", default: true))
        case "BPEDecoder":
            return .bpe(suffix: try r.optionalString("suffix") ?? "</w>")
        case "Sequence":
            return .sequence(try r.required("decoders").array.map(decoder))
        default:
            throw unknownType(r, "decoder", type)
        }
    }
}
