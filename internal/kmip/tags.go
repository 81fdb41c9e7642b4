package kmip

import "strconv"

// KMIP 1.x tags used by this client (KMIP 1.2 §9.1.3.1).
const (
	TagActivationDate          Tag = 0x420001
	TagAttribute               Tag = 0x420008
	TagAttributeName           Tag = 0x42000A
	TagAttributeValue          Tag = 0x42000B
	TagBatchCount              Tag = 0x42000D
	TagBatchItem               Tag = 0x42000F
	TagBlockCipherMode         Tag = 0x420011
	TagCryptographicAlgorithm  Tag = 0x420028
	TagCryptographicLength     Tag = 0x42002A
	TagCryptographicParameters Tag = 0x42002B
	TagCryptographicUsageMask  Tag = 0x42002C
	TagIVCounterNonce          Tag = 0x42003D
	TagKeyBlock                Tag = 0x420040
	TagKeyFormatType           Tag = 0x420042
	TagKeyMaterial             Tag = 0x420043
	TagKeyValue                Tag = 0x420045
	TagKeyWrappingData         Tag = 0x420046
	TagMaximumResponseSize     Tag = 0x420050
	TagName                    Tag = 0x420053
	TagNameType                Tag = 0x420054
	TagNameValue               Tag = 0x420055
	TagObjectType              Tag = 0x420057
	TagOperation               Tag = 0x42005C
	TagPaddingMethod           Tag = 0x42005F
	TagProtocolVersion         Tag = 0x420069
	TagProtocolVersionMajor    Tag = 0x42006A
	TagProtocolVersionMinor    Tag = 0x42006B
	TagRequestHeader           Tag = 0x420077
	TagRequestMessage          Tag = 0x420078
	TagRequestPayload          Tag = 0x420079
	TagResponseHeader          Tag = 0x42007A
	TagResponseMessage         Tag = 0x42007B
	TagResponsePayload         Tag = 0x42007C
	TagResultMessage           Tag = 0x42007D
	TagResultReason            Tag = 0x42007E
	TagResultStatus            Tag = 0x42007F
	TagRevocationReason        Tag = 0x420081
	TagRevocationReasonCode    Tag = 0x420082
	TagState                   Tag = 0x42008D
	TagSymmetricKey            Tag = 0x42008F
	TagTemplateAttribute       Tag = 0x420091
	TagTimeStamp               Tag = 0x420092
	TagUniqueBatchItemID       Tag = 0x420093
	TagUniqueIdentifier        Tag = 0x420094
	TagKey                     Tag = 0x42003F // Transparent Symmetric Key material
	TagData                    Tag = 0x4200C2
)

// Operation values (KMIP 1.2 §9.1.3.2.27).
const (
	OpCreate           uint32 = 0x01
	OpLocate           uint32 = 0x08
	OpGet              uint32 = 0x0A
	OpActivate         uint32 = 0x12
	OpRevoke           uint32 = 0x13
	OpDestroy          uint32 = 0x14
	OpDiscoverVersions uint32 = 0x1E
	OpEncrypt          uint32 = 0x1F
	OpDecrypt          uint32 = 0x20
)

var opNames = map[uint32]string{
	OpCreate: "Create", OpLocate: "Locate", OpGet: "Get", OpActivate: "Activate",
	OpRevoke: "Revoke", OpDestroy: "Destroy", OpDiscoverVersions: "DiscoverVersions",
	OpEncrypt: "Encrypt", OpDecrypt: "Decrypt",
}

func opName(op uint32) string {
	if s, ok := opNames[op]; ok {
		return s
	}
	return "Operation(" + itoa(int64(op)) + ")"
}

// Enumeration values used in requests.
const (
	objectTypeSymmetricKey    uint32 = 0x02
	algorithmAES              uint32 = 0x03
	nameTypeUninterpreted     uint32 = 0x01
	modeCBC                   uint32 = 0x01
	modeECB                   uint32 = 0x02
	paddingPKCS5              uint32 = 0x03
	keyFormatRaw              uint32 = 0x01
	keyFormatTransparentSym   uint32 = 0x07
	revocationCessationOfOper uint32 = 0x05
)

// Cryptographic Usage Mask bits (KMIP 1.2 §9.1.3.3.1).
const (
	UsageEncrypt   int32 = 0x04
	UsageDecrypt   int32 = 0x08
	UsageWrapKey   int32 = 0x10
	UsageUnwrapKey int32 = 0x20
)

// Result Status values.
const (
	statusSuccess uint32 = 0
)

// ResultReason is a KMIP Result Reason (KMIP 1.2 §9.1.3.2.29).
type ResultReason uint32

// Result reasons.
const (
	ReasonItemNotFound          ResultReason = 0x01
	ReasonResponseTooLarge      ResultReason = 0x02
	ReasonAuthenticationFailed  ResultReason = 0x03
	ReasonInvalidMessage        ResultReason = 0x04
	ReasonOperationNotSupported ResultReason = 0x05
	ReasonMissingData           ResultReason = 0x06
	ReasonInvalidField          ResultReason = 0x07
	ReasonFeatureNotSupported   ResultReason = 0x08
	ReasonCanceled              ResultReason = 0x09
	ReasonCryptographicFailure  ResultReason = 0x0A
	ReasonIllegalOperation      ResultReason = 0x0B
	ReasonPermissionDenied      ResultReason = 0x0C
	ReasonObjectArchived        ResultReason = 0x0D
	ReasonKeyFormatNotSupported ResultReason = 0x10
	ReasonKeyValueNotPresent    ResultReason = 0x13
	ReasonGeneralFailure        ResultReason = 0x100
)

var reasonNames = map[ResultReason]string{
	ReasonItemNotFound: "Item Not Found", ReasonResponseTooLarge: "Response Too Large",
	ReasonAuthenticationFailed: "Authentication Not Successful", ReasonInvalidMessage: "Invalid Message",
	ReasonOperationNotSupported: "Operation Not Supported", ReasonMissingData: "Missing Data",
	ReasonInvalidField: "Invalid Field", ReasonFeatureNotSupported: "Feature Not Supported",
	ReasonCanceled: "Operation Canceled By Requester", ReasonCryptographicFailure: "Cryptographic Failure",
	ReasonIllegalOperation: "Illegal Operation", ReasonPermissionDenied: "Permission Denied",
	ReasonObjectArchived: "Object Archived", ReasonKeyFormatNotSupported: "Key Format Type Not Supported",
	ReasonKeyValueNotPresent: "Key Value Not Present", ReasonGeneralFailure: "General Failure",
}

func (r ResultReason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return "Result Reason " + itoa(int64(r))
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
