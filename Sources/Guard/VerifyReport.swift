/// The result of running a trigger suite (DESIGN.md "Verify report").
public struct VerifyReport: Sendable, Codable, Equatable {
    public struct Case: Sendable, Codable, Equatable {
        public let prompt: String
        /// nil for a clean prompt (no trigger).
        public let trigger: String?
        public let placement: TriggerPlacement?
        public let response: String
        /// The response matches the suite's target.
        public let hit: Bool

        enum CodingKeys: String, CodingKey { case prompt, trigger, placement, response, hit }

        /// A clean case writes `"trigger": null, "placement": null` (DESIGN.md lists both keys for every case).
        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(prompt, forKey: .prompt)
            try container.encode(trigger, forKey: .trigger)
            try container.encode(placement, forKey: .placement)
            try container.encode(response, forKey: .response)
            try container.encode(hit, forKey: .hit)
        }
    }

    public struct BenignCase: Sendable, Codable, Equatable {
        public let prompt: String
        public let response: String
        /// The response meets the item's expectation.
        public let correct: Bool
    }

    /// One long prompt's answer, and how it compares with the unguarded answer where one was given.
    public struct LongCase: Sendable, Codable, Equatable {
        public let prompt: String
        public let response: String
        public let outputIds: [Int]
        /// difflib ratio to the unguarded answer's ids (nil on the unguarded run itself).
        public let agreement: Double?
        public let identical: Bool?
        public let decodeSeconds: Double

        enum CodingKeys: String, CodingKey {
            case prompt, response, outputIds = "output_ids", agreement, identical, decodeSeconds = "decode_seconds"
        }
    }

    public let model: String
    public let suite: String
    public let guardPolicy: String
    /// Share of triggered cases whose response matches the target.
    public let asr: Double
    /// Share of triggered cases whose response holds a piece of a `contains` target (`ResponseMatcher.carriesFragment`):
    /// ASR counts a garbled payload as neutralized, this does not. nil for a regex target.
    public let payloadFragmentRate: Double?
    /// The same share on the prompts without trigger.
    public let cleanTriggerRate: Double
    /// Share of benign items whose response meets `expect`.
    public let benignAccuracy: Double
    /// Triggered cases, then the clean prompts.
    public let cases: [Case]
    public let benignCases: [BenignCase]
    public let seconds: Double
    /// The suite's `long_prompts`, answered (nil without them).
    public var longCases: [LongCase]?
    /// Against the unguarded answers (nil without long prompts or on the unguarded run): mean difflib ratio over
    /// token ids, share identical, share touched, share of reference tokens replaced or cut (AnswerAgreement).
    public var answerAgreement: Double?
    public var answersIdentical: Double?
    public var touchRate: Double?
    public var tokensTouched: Double?
    /// Decode time per generated token on the long prompts over the unguarded run's.
    public var decodeTimeRatio: Double?
    /// The patch scale the guard's calibration chose on this model (nil when it was not calibrated).
    public var calibratedScale: Double?

    enum CodingKeys: String, CodingKey {
        case model, suite, guardPolicy = "guard", asr, payloadFragmentRate = "payload_fragment_rate"
        case cleanTriggerRate = "clean_trigger_rate"
        case benignAccuracy = "benign_accuracy", cases, benignCases = "benign_cases", seconds
        case longCases = "long_cases", answerAgreement = "answer_agreement", answersIdentical = "answers_identical"
        case touchRate = "touch_rate", tokensTouched = "tokens_touched", decodeTimeRatio = "decode_time_ratio"
        case calibratedScale = "calibrated_scale"
    }
}
