"""Fallback ICD-10 codes for the simulator (used only when the phecode map resource is absent).

548 real WHO ICD-10 codes (no dot) with their most specific phecodeX mapping, taken from the
phecodeX WHO map (``phecode/phecodeX_WHO.csv`` in the ``phetk`` wheel, PyPI): every code under
the disease families the simulator links to BMFF (M80, M81, S22, S32, S72, E11, I20-I25, I63,
C81-C85) plus one code from each of 420 other phecodes chosen at random (seed 2024).
``bma_genetics.resources.load_phecode_map`` replaces it when the reference data is fetched.
"""

CSV = """\
icd10,phecode,phecode_string,category,sex
A010,ID_089.1,Bacterial infections,Infections,Both
A047,GI_526.12,Intestinal infection due to C. difficile,Gastrointestinal,Both
A058,GI_526.1,Bacterial enteritis,Gastrointestinal,Both
A060,GI_526.3,Intestinal infection due to protozoa,Gastrointestinal,Both
A071,GI_526.3,Intestinal infection due to protozoa,Gastrointestinal,Both
A082,GI_526.2,Viral enteritis,Gastrointestinal,Both
A150,ID_005.1,Mycobacterium tuberculosis,Infections,Both
A170,NS_320.11,Bacterial meningitis,Neurological,Both
A202,ID_089.1,Bacterial infections,Infections,Both
A230,ID_089.1,Bacterial infections,Infections,Both
A280,ID_089.1,Bacterial infections,Infections,Both
A360,ID_010.1,Corynebacterium diphtheriae,Infections,Both
A361,ID_010.1,Corynebacterium diphtheriae,Infections,Both
A480,ID_089.1,Bacterial infections,Infections,Both
A542,GI_537.1,Peritonitis,Gastrointestinal,Both
A750,ID_089.1,Bacterial infections,Infections,Both
A810,NS_322.1,Prion diseases,Neurological,Both
A870,NS_320.12,Viral meningitis,Neurological,Both
B060,ID_089.2,Viral infections,Infections,Both
B083,ID_089.2,Viral infections,Infections,Both
B088,ID_089.2,Viral infections,Infections,Both
B160,ID_054.21,Hepatitis B with delta,Infections,Both
B180,ID_054.21,Hepatitis B with delta,Infections,Both
B200,ID_057.1,Human immunodeficiency virus,Infections,Both
B342,ID_089.2,Viral infections,Infections,Both
B354,DE_660.124,Dermatophytosis of the body,Dermatological,Both
B375,NS_320.13,Fungal memingitis,Neurological,Both
B376,CV_410.2,Endocarditis,Cardiovascular,Both
B380,ID_089.3,Fungal infections,Infections,Both
B460,ID_089.3,Fungal infections,Infections,Both
B485,ID_089.3,Fungal infections,Infections,Both
B500,ID_084.2,Plasmodium [Malaria],Infections,Both
B580,ID_084.5,Toxoplasmosis,Infections,Both
B582,NS_321.13,Toxoplasmosis meningoencephalitis,Neurological,Both
B965,ID_089.1,Bacterial infections,Infections,Both
C050,CA_100.15,Malignant neoplasm of the palate,Neoplasms,Both
C110,CA_100.3,Malignant neoplasm of the nasopharynx,Neoplasms,Both
C130,CA_100.4,Malignant neoplasm of the hypopharynx,Neoplasms,Both
C221,CA_101.62,Malignant neoplasm of the intrahepatic bile ducts,Neoplasms,Both
C240,CA_101.7,Malignant neoplasm of the gallbladder and extrahepatic bile ducts,Neoplasms,Both
C250,CA_101.8,Malignant neoplasm of the pancreas,Neoplasms,Both
C400,CA_104.1,Malignant neoplam of the bone and/or cartilage,Neoplasms,Both
C480,CA_104.2,Malignant neoplasm of retroperitoneum and peritoneum,Neoplasms,Both
C570,CA_106.4,Malignant neoplasm of the fallopian tube and uterine adnexa,Neoplasms,Female
C620,CA_107.3,Malignant neoplasm of the testis,Neoplasms,Male
C670,CA_108.5,Malignant neoplasm of the bladder,Neoplasms,Both
C695,CA_109.12,Malignant neoplasm of lacrimal gland and duct,Neoplasms,Both
C700,CA_109.2,Malignant neoplasm of meninges,Neoplasms,Both
C810,CA_120.21,Mature B-cell,Neoplasms,Both
C811,CA_120.21,Mature B-cell,Neoplasms,Both
C812,CA_120.21,Mature B-cell,Neoplasms,Both
C813,CA_120.21,Mature B-cell,Neoplasms,Both
C814,CA_120.21,Mature B-cell,Neoplasms,Both
C817,CA_120.21,Mature B-cell,Neoplasms,Both
C819,CA_120.2,Lymphoid,Neoplasms,Both
C820,CA_120.21,Mature B-cell,Neoplasms,Both
C821,CA_120.21,Mature B-cell,Neoplasms,Both
C822,CA_120.21,Mature B-cell,Neoplasms,Both
C823,CA_120.21,Mature B-cell,Neoplasms,Both
C824,CA_120.21,Mature B-cell,Neoplasms,Both
C825,CA_120.21,Mature B-cell,Neoplasms,Both
C826,CA_120.21,Mature B-cell,Neoplasms,Both
C827,CA_120.21,Mature B-cell,Neoplasms,Both
C829,CA_120.21,Mature B-cell,Neoplasms,Both
C830,CA_120.21,Mature B-cell,Neoplasms,Both
C831,CA_120.21,Mature B-cell,Neoplasms,Both
C833,CA_120.21,Mature B-cell,Neoplasms,Both
C835,CA_120.2,Lymphoid,Neoplasms,Both
C837,CA_120.21,Mature B-cell,Neoplasms,Both
C838,CA_120.21,Mature B-cell,Neoplasms,Both
C839,CA_120.21,Mature B-cell,Neoplasms,Both
C840,CA_120.22,Mature T-Cell,Neoplasms,Both
C841,CA_120.22,Mature T-Cell,Neoplasms,Both
C844,CA_120.22,Mature T-Cell,Neoplasms,Both
C845,CA_120.22,Mature T-Cell,Neoplasms,Both
C846,CA_120.22,Mature T-Cell,Neoplasms,Both
C847,CA_120.22,Mature T-Cell,Neoplasms,Both
C848,CA_120.22,Mature T-Cell,Neoplasms,Both
C849,CA_120.22,Mature T-Cell,Neoplasms,Both
C851,CA_120.21,Mature B-cell,Neoplasms,Both
C852,CA_120.21,Mature B-cell,Neoplasms,Both
C857,CA_120.21,Mature B-cell,Neoplasms,Both
C859,CA_122.2,Non-Hodgkin lymphoma,Neoplasms,Both
C882,BI_180.34,Heavy chain disease*,Blood/Immune,Both
C920,CA_121.12,Acute myeloid leukemia,Neoplasms,Both
C925,CA_120.12,Monocyte,Neoplasms,Both
D021,CA_102.3,Malignant neoplasm of the trachea,Neoplasms,Both
D120,CA_136.41,Benign neoplasm of the colon,Neoplasms,Both
D131,CA_136.2,Benign neoplasm of stomach,Neoplasms,Both
D132,CA_136.3,Benign neoplasm of the small intestine,Neoplasms,Both
D134,CA_136.61,Benign neoplasm of the liver*,Neoplasms,Both
D142,CA_137.3,Benign neoplasm of the trachea,Neoplasms,Both
D151,CA_137.51,Benign neoplasm of the heart,Neoplasms,Both
D191,CA_139.2,Benign neoplasm of retroperitoneum and peritoneum,Neoplasms,Both
D197,CA_153,Benign neoplasm of other or unspecified sites,Neoplasms,Both
D260,CA_144.13,Benign neoplasms of the cervix,Neoplasms,Female
D281,CA_144.12,Benign neoplasms of the vagina,Neoplasms,Female
D290,CA_146.1,Benign neoplasm of the penis,Neoplasms,Male
D292,CA_146.3,Benign neoplasm of the testis,Neoplasms,Male
D303,CA_147.3,Benign neoplasm of bladder,Neoplasms,Both
D311,CA_148.14,Benign neoplasm of cornea,Neoplasms,Both
D333,CA_148.5,Benign neoplasm of cranial nerve,Neoplasms,Both
D360,CA_152,Benign neoplasm of lymph nodes,Neoplasms,Both
D410,CA_108.4,Malignant neoplasm of the kidney,Neoplasms,Both
D472,BI_180.31,Monoclonal gammopathy,Blood/Immune,Both
D474,CA_120.1,Myeloid,Neoplasms,Both
D572,GE_970.12,Hemoglobin C disease,Genetic,Both
D580,GE_970.61,Hereditary spherocytosis,Genetic,Both
D690,MS_704.9,Allergic purpura [Henoch-Schoenlein purpura],Muscloskeletal,Both
D692,BI_168.18,Other nonthrombocytopenic purpura,Blood/Immune,Both
D721,BI_171.7,Eosinophilia,Blood/Immune,Both
D731,BI_174.21,Hypersplenism,Blood/Immune,Both
D733,BI_174.5,Abscess of spleen*,Blood/Immune,Both
D751,BI_175.2,Secondary polycythemia,Blood/Immune,Both
D758,BI_176,Other diseases of blood and blood-forming organs,Blood/Immune,Both
D800,GE_969.11,Hereditary hypogammaglobulinemia,Genetic,Both
D802,BI_179.4,Selective deficiency of immunoglobulin A [IgA],Blood/Immune,Both
D805,BI_179.8,Immunodeficiency with increased IgM,Blood/Immune,Both
D816,GE_969.125,"Major histocompatibility complex class I deficiency (Bare lymphocyte syndrome, type I)*",Genetic,Both
E035,EM_200.16,Myxedema*,Endocrine/Metab,Both
E041,EM_200.22,Uninodular goiter [single thyroid nodule],Endocrine/Metab,Both
E050,EM_200.21,Diffuse goiter,Endocrine/Metab,Both
E053,EM_200.24,Ectopic thyroid nodule,Endocrine/Metab,Both
E060,EM_200.42,Acute thyroiditis,Endocrine/Metab,Both
E061,EM_200.43,Subacute thyroiditis,Endocrine/Metab,Both
E100,EM_202.1,Type 1 diabetes,Endocrine/Metab,Both
E110,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E111,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E112,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E113,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E114,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E115,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E116,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E117,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E118,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E119,EM_202.2,Type 2 diabetes,Endocrine/Metab,Both
E130,EM_202.4,Other specified diabetes*,Endocrine/Metab,Both
E160,EM_204.32,Drug-induced hypoglycemia*,Endocrine/Metab,Both
E240,EM_209.14,Pituitary-dependent Cushing's disease*,Endocrine/Metab,Both
E241,EM_211.132,Nelson's syndrome*,Endocrine/Metab,Both
E243,EM_211.133,Ectopic ACTH syndrome*,Endocrine/Metab,Both
E281,EM_214.22,Androgen excess*,Endocrine/Metab,Both
E282,GU_619.23,Polycystic ovary syndrome,Genitourinary,Female
E300,EM_217.1,Delayed puberty,Endocrine/Metab,Both
E310,EM_218.21,Autoimmune polyglandular failure*,Endocrine/Metab,Both
E320,EM_220.1,Persistent hyperplasia of thymus,Endocrine/Metab,Both
E500,EM_232.1,Vitamin A deficiency,Endocrine/Metab,Both
E503,SO_367.21,Corneal ulcer,Sense organs,Both
E505,EM_232.1,Vitamin A deficiency,Endocrine/Metab,Both
E511,EM_232.21,Thiamine deficiency [Vitamin B1],Endocrine/Metab,Both
E531,EM_232.26,Pyridoxine deficiency [Vitamin B6],Endocrine/Metab,Both
E610,EM_247.87,Copper deficiency*,Endocrine/Metab,Both
E615,EM_247.84,Molybdenum deficiency*,Endocrine/Metab,Both
E662,EM_236.11,Morbid obesity,Endocrine/Metab,Both
E671,EM_238.2,Hypercarotenemia,Endocrine/Metab,Both
E672,EM_238.3,Megavitamin-B6 syndrome*,Endocrine/Metab,Both
E713,GE_962.3,Disorders of fatty-acid metabolism,Genetic,Both
E724,GE_962.54,Disorders of ornithine metabolism*,Genetic,Both
E740,EM_252.5,Disorders of carbohydrate metabolism,Endocrine/Metab,Both
E781,EM_239.21,Pure hyperglyceridemia,Endocrine/Metab,Both
E800,GE_966.21,Hereditary erythropoietic porphyria*,Genetic,Both
E803,GE_966.3,Defects of catalase and peroxidase*,Genetic,Both
E830,EM_247.2,Disorders of copper metabolism,Endocrine/Metab,Both
E881,EM_244.4,"Lipodystrophy, not elsewhere classified",Endocrine/Metab,Both
E882,CA_139.51,Lipomatosis*,Neoplasms,Both
F000,NS_328.11,Alzheimer's disease,Neurological,Both
F065,NS_329.1,Memory loss,Neurological,Both
F066,MB_309.3,Emotional lability,Mental,Both
F067,MB_308.4,Neurocognitive disorder*,Mental,Both
F068,MB_299,"Mental disorder, not otherwise specified",Mental,Both
F070,NS_346,Brain damage and brain death,Neurological,Both
F161,MB_280.71,Hallucinogen abuse or dependence,Mental,Both
F310,MB_286.11,Bipolar I disorder,Mental,Both
F320,MB_286.2,Major depressive disorder,Mental,Both
F513,NS_333.54,Sleepwalking [somnambulism]*,Neurological,Both
F607,MB_296.7,Dependent personality disorder,Mental,Both
F633,MB_298.3,Trichotillomania*,Mental,Both
F710,MB_300.2,Moderate intellectual disabilities,Mental,Both
F730,MB_300.4,Profound intellectual disabilities,Mental,Both
F810,MB_302.3,Specific developmental disorders of scholastic skills,Mental,Both
F842,GE_981.3,Rett syndrome*,Genetic,Both
F951,MB_305.12,Chronic motor or vocal tic disorder,Mental,Both
F952,MB_305.11,Tourette's disorder,Mental,Both
F981,GI_529.7,Fecal incontinence and encopresis,Gastrointestinal,Both
F982,SS_815,Symptoms and signs concerning food and fluid intake,Symptoms,Both
G114,GE_972.21,Hereditary spastic paraplegia,Genetic,Both
G120,GE_972.411,"Spinal muscular atrophy, type I [Werdnig-Hoffman]",Genetic,Both
G122,NS_323.3,Motor neuron disease,Neurological,Both
G243,NS_324.314,Torticollis,Neurological,Both
G328,NS_349,Disorder of nervous system,Neurological,Both
G443,NS_331.2,Post-traumatic headache,Neurological,Both
G453,SO_374.91,Transient retinal arterial occlusion [Amaurosis fugax],Sense organs,Both
G460,CV_433.34,"Cerebral artery syndrome (middle, anterior, posterior)*",Cardiovascular,Both
G472,NS_333.4,Circadian rhythm sleep disorder,Neurological,Both
G520,NS_334.3,Disorders of olfactory [1st] nerve,Neurological,Both
G540,NS_335.1,Nerve plexus lesions,Neurological,Both
G560,NS_336.41,Carpal tunnel syndrome,Neurological,Both
G570,NS_336.51,Lesion of sciatic nerve,Neurological,Both
G811,NS_341.22,Spastic hemiplegia,Neurological,Both
G900,NS_343.1,Peripheral autonomic neuropathy,Neurological,Both
G910,NS_344.11,Communicating hydrocephalus,Neurological,Both
G911,NS_344.12,Obstructive hydrocephalus,Neurological,Both
G912,NS_344.13,(Idiopathic) normal pressure hydrocephalus,Neurological,Both
G952,NS_348.4,Spinal cord compression*,Neurological,Both
G961,NS_347.2,Disorders of meninges,Neurological,Both
H010,SO_360.4,Blepharitis,Sense organs,Both
H021,SO_361.9,Ectropion of eyelid,Sense organs,Both
H024,SO_361.3,Ptosis of eyelid,Sense organs,Both
H101,SO_367.12,Allergic conjunctivitis,Sense organs,Both
H158,SO_368,Disorders of sclera,Sense organs,Both
H171,SO_369.12,Central opacity of cornea,Sense organs,Both
H184,SO_369.4,Corneal degenerations,Sense organs,Both
H185,GE_974.2,Hereditary corneal dystrophies,Genetic,Both
H200,SO_367.52,Iridocyclitis,Sense organs,Both
H211,SO_370.3,Vascular disorders of iris and ciliary body,Sense organs,Both
H214,SO_370.4,Adhesions and disruptions of iris and ciliary body,Sense organs,Both
H300,SO_367.9,Chorioretinal inflammation,Sense organs,Both
H310,SO_373.1,Chorioretinal scars,Sense organs,Both
H330,SO_374.1,Retinal detachments and breaks,Sense organs,Both
H334,SO_374.12,Traction detachment of retina,Sense organs,Both
H355,GE_974.1,Hereditary retinal dystrophy,Genetic,Both
H442,SO_387.21,Progressive high (degenerative) myopia,Sense organs,Both
H491,NS_334.42,Fourth [trochlear] nerve palsy,Neurological,Both
H502,SO_381.5,Vertical strabismus,Sense organs,Both
H520,SO_387.1,Hypermetropia,Sense organs,Both
H535,SO_386.5,Color vision deficiencies,Sense organs,Both
H570,SO_384,Anomalies of pupillary function,Sense organs,Both
H610,SO_390.6,Perichondritis and chondritis of pinna,Sense organs,Both
H613,SO_390.5,Stenosis of external ear canal,Sense organs,Both
H690,SO_391.23,Patulous Eustachian tube,Sense organs,Both
H800,SO_391.8,Otosclerosis,Sense organs,Both
H830,SO_395.1,Labyrinthitis,Sense organs,Both
H920,SO_392.1,Otalgia [ear pain],Sense organs,Both
H930,SO_398,Other disorders of ear,Sense organs,Both
I010,CV_400.2,Rheumatic heart disease,Cardiovascular,Both
I200,CV_403,Angina pectoris,Cardiovascular,Both
I201,CV_403.1,Coronary artery spasm [Coronary vasospasm]*,Cardiovascular,Both
I208,CV_403,Angina pectoris,Cardiovascular,Both
I209,CV_403,Angina pectoris,Cardiovascular,Both
I210,CV_404.11,Acute myocardial infarction,Cardiovascular,Both
I211,CV_404.11,Acute myocardial infarction,Cardiovascular,Both
I212,CV_404.11,Acute myocardial infarction,Cardiovascular,Both
I213,CV_404.11,Acute myocardial infarction,Cardiovascular,Both
I214,CV_404.11,Acute myocardial infarction,Cardiovascular,Both
I219,CV_404.11,Acute myocardial infarction,Cardiovascular,Both
I220,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I221,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I228,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I229,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I230,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I231,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I232,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I233,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I234,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I235,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I236,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I238,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I240,CV_440.2,Arterial embolism and thrombosis,Cardiovascular,Both
I241,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I248,CV_404,Ischemic heart disease,Cardiovascular,Both
I249,CV_404,Ischemic heart disease,Cardiovascular,Both
I250,CV_436,Atherosclerosis [ASCVD],Cardiovascular,Both
I251,CV_404.2,Coronary atherosclerosis [Atherosclerotic heart disease],Cardiovascular,Both
I252,CV_404.1,Myocardial infarction [Heart attack],Cardiovascular,Both
I253,CV_438.7,Aneurysm of heart,Cardiovascular,Both
I254,CV_438.43,Coronary artery dissection,Cardiovascular,Both
I255,CV_414.5,Ischemic cardiomyopathy*,Cardiovascular,Both
I256,CV_404,Ischemic heart disease,Cardiovascular,Both
I258,CV_404,Ischemic heart disease,Cardiovascular,Both
I259,CV_404,Ischemic heart disease,Cardiovascular,Both
I425,CV_414.8,Restrictive cardiomyopathy*,Cardiovascular,Both
I456,CV_416.8,Pre-excitation syndrome [Anomalous atrioventricular excitation],Cardiovascular,Both
I483,CV_416.221,Typical atrial flutter*,Cardiovascular,Both
I490,CV_416.3,Ventricular fibrillation and flutter,Cardiovascular,Both
I620,CV_430.3,Nontraumatic subdural hemorrhage,Cardiovascular,Both
I630,CV_431.11,Cerebral infarction [Ischemic stroke],Cardiovascular,Both
I631,CV_431.11,Cerebral infarction [Ischemic stroke],Cardiovascular,Both
I632,CV_431.11,Cerebral infarction [Ischemic stroke],Cardiovascular,Both
I633,CV_431.11,Cerebral infarction [Ischemic stroke],Cardiovascular,Both
I634,CV_431.11,Cerebral infarction [Ischemic stroke],Cardiovascular,Both
I635,CV_431.11,Cerebral infarction [Ischemic stroke],Cardiovascular,Both
I636,CV_431.11,Cerebral infarction [Ischemic stroke],Cardiovascular,Both
I638,CV_431.11,Cerebral infarction [Ischemic stroke],Cardiovascular,Both
I639,CV_431.11,Cerebral infarction [Ischemic stroke],Cardiovascular,Both
I672,CV_436.5,Cerebral atherosclerosis,Cardiovascular,Both
I700,CV_436.3,Atherosclerosis of aorta,Cardiovascular,Both
I702,CV_436.2,Atherosclerosis of the extremities,Cardiovascular,Both
I711,CV_438.12,Thoracic aneurysm,Cardiovascular,Both
I775,CV_443.4,Necrosis of artery,Cardiovascular,Both
I820,CV_440.14,Budd-Chiari syndrome,Cardiovascular,Both
I891,BI_177.3,Lymphangitis,Blood/Immune,Both
J100,ID_089.2,Viral infections,Infections,Both
J122,ID_089.2,Viral infections,Infections,Both
J210,ID_058.1,Respiratory syncytial virus,Infections,Both
J300,RE_463.3,Vasomotor rhinitis*,Respiratory,Both
J301,RE_463.21,Seasonal allergic rhinitis,Respiratory,Both
J312,RE_465.2,Chronic Pharyngitis,Respiratory,Both
J351,RE_466.4,Hypertrophy of tonsils and adenoids,Respiratory,Both
J384,RE_472.3,Edema of larynx,Respiratory,Both
J390,RE_465.3,Pharyngeal abscess,Respiratory,Both
J410,RE_469.2,Chronic bronchitis,Respiratory,Both
J431,RE_474.12,Panlobular emphysema*,Respiratory,Both
J670,RE_477.2,Hypersensitivity pneumonitis,Respiratory,Both
J951,RE_479,Pulmonary insufficiency and acute respiratory distress syndrome,Respiratory,Both
J961,RE_479.32,Chronic respiratory failure,Respiratory,Both
J991,RE_499,Other symptoms and disorders of the respiratory system,Respiratory,Both
K001,GI_500.3,Supernumerary teeth,Gastrointestinal,Both
K002,GI_500.2,Abnormalities of size and form of teeth,Gastrointestinal,Both
K006,GI_500.4,Disturbances in tooth eruption,Gastrointestinal,Both
K007,NB_889.4,Teething syndrome,Neonatal,Both
K020,GI_502.11,Dental caries,Gastrointestinal,Both
K072,MS_733.2,Anomalies of dental arch relationship,Muscloskeletal,Both
K101,DE_688.5,Giant cell granuloma,Dermatological,Both
K103,MS_734.4,Alveolitis of jaw,Muscloskeletal,Both
K111,GI_506.2,Hypertrophy of salivary gland,Gastrointestinal,Both
K113,GI_507.2,Cellulitis and abscess of mouth,Gastrointestinal,Both
K116,GI_506.6,Mucocele of salivary gland,Gastrointestinal,Both
K133,GI_507.31,Hairy leukoplakia*,Gastrointestinal,Both
K135,GI_507.5,Oral submucosal fibrosis,Gastrointestinal,Both
K227,GI_510.8,Barrett's esophagus,Gastrointestinal,Both
K250,GI_513.2,Gastric ulcer,Gastrointestinal,Both
K294,GI_522.92,Atrophic gastritis,Gastrointestinal,Both
K314,GI_523.3,Gastric diverticulum,Gastrointestinal,Both
K316,GI_516.3,Fistula of stomach and duodenum,Gastrointestinal,Both
K383,GI_532.1,Intestinal fistula,Gastrointestinal,Both
K440,GI_514.2,Intestinal obstruction,Gastrointestinal,Both
K510,GI_522.12,Ulcerative colitis,Gastrointestinal,Both
K522,GI_522.5,Allergic and dietetic gastroenteritis and colitis,Gastrointestinal,Both
K600,GI_530.1,Anal fissure,Gastrointestinal,Both
K701,MB_280.13,Alcoholic liver disease,Mental,Both
K761,GI_546.4,Chronic passive congestion of liver,Gastrointestinal,Both
K810,GI_550.21,Acute cholecystitis,Gastrointestinal,Both
K831,GI_552.2,Obstruction of bile duct,Gastrointestinal,Both
K928,GI_556,Other digestive system symptoms and diseases,Gastrointestinal,Both
L110,DE_680.2,Keratoderma,Dermatological,Both
L211,DE_668.7,Seborrheic infantile dermatitis,Dermatological,Both
L305,DE_664.2,Pityriasis,Dermatological,Both
L400,DE_664.41,Psoriasis vulgaris*,Dermatological,Both
L650,DE_684.12,Telogen effluvium,Dermatological,Both
L710,DE_662,Rosacea,Dermatological,Both
L744,DE_685.5,Anhidrosis,Dermatological,Both
L813,DE_674.21,Cafe au lait spots*,Dermatological,Both
L815,DE_674.1,Hypopigmentation,Dermatological,Both
L923,DE_688.2,Foreign body granuloma,Dermatological,Both
L946,DE_680.4,Ainhum,Dermatological,Both
M020,MS_702.3,Enteropathic arthropathies,Muscloskeletal,Both
M058,MS_705.12,Rheumatoid arthritis with rheumatoid factor*,Muscloskeletal,Both
M110,MS_703.3,Hydroxyapatite deposition disease*,Muscloskeletal,Both
M122,MS_707.1,Villonodular synovitis,Muscloskeletal,Both
M150,MS_708.11,Generalized osteoarthritis,Muscloskeletal,Both
M214,MS_710.41,Flat foot [pes planus],Muscloskeletal,Both
M230,MS_711.1,Derangement of meniscus,Muscloskeletal,Both
M242,MS_712.5,Disorder of ligament,Muscloskeletal,Both
M254,MS_713.2,Effusion of joint,Muscloskeletal,Both
M310,MS_704.4,Hypersensitivity angiitis,Muscloskeletal,Both
M432,MS_714.7,Fusion of spine*,Muscloskeletal,Both
M462,MS_701.1,Osteomyelitis,Muscloskeletal,Both
M502,MS_716.3,Spinal disc displacement (herniation),Muscloskeletal,Both
M545,MS_718.4,Low back pain,Muscloskeletal,Both
M600,MS_700.41,Myositis,Muscloskeletal,Both
M621,MS_719.4,Rupture of muscle (nontraumatic),Muscloskeletal,Both
M678,MS_723,Enthesopathy/Enthesitis/Tendinopathy,Muscloskeletal,Both
M751,MS_723.2,Rotator cuff tear or rupture,Muscloskeletal,Both
M773,MS_724.51,Calcaneal spur,Muscloskeletal,Both
M800,MS_726.1,Osteoporosis,Muscloskeletal,Both
M801,MS_726.1,Osteoporosis,Muscloskeletal,Both
M802,MS_726.1,Osteoporosis,Muscloskeletal,Both
M803,MS_726.1,Osteoporosis,Muscloskeletal,Both
M804,MS_726.1,Osteoporosis,Muscloskeletal,Both
M805,MS_726.1,Osteoporosis,Muscloskeletal,Both
M808,MS_726.1,Osteoporosis,Muscloskeletal,Both
M809,MS_726.1,Osteoporosis,Muscloskeletal,Both
M810,MS_726.1,Osteoporosis,Muscloskeletal,Both
M811,MS_726.1,Osteoporosis,Muscloskeletal,Both
M812,MS_726.1,Osteoporosis,Muscloskeletal,Both
M813,MS_726.1,Osteoporosis,Muscloskeletal,Both
M814,MS_726.1,Osteoporosis,Muscloskeletal,Both
M815,MS_726.1,Osteoporosis,Muscloskeletal,Both
M816,MS_726.1,Osteoporosis,Muscloskeletal,Both
M818,MS_726.1,Osteoporosis,Muscloskeletal,Both
M819,MS_726.1,Osteoporosis,Muscloskeletal,Both
M820,MS_726.1,Osteoporosis,Muscloskeletal,Both
M860,MS_701.11,Acute/subacute osteomyelitis,Muscloskeletal,Both
M870,MS_727.1,Osteonecrosis,Muscloskeletal,Both
M880,MS_727.3,Osteitis deformans [Paget's disease of bone],Muscloskeletal,Both
M940,MS_728.3,Costochondritis [Tietze's disease],Muscloskeletal,Both
N007,GU_580.57,Diffuse crescentic glomerulonephritis*,Genitourinary,Both
N030,GU_580.2,Chronic nephritic syndrome,Genitourinary,Both
N110,GU_581.35,Chronic pyelonephritis,Genitourinary,Both
N130,GU_581.31,Hydronephrosis,Genitourinary,Both
N200,GU_585,Kidney stone disease,Genitourinary,Both
N280,GU_586.3,Ischemia and infarction of kidney,Genitourinary,Both
N321,GU_596.4,Vesical fistula,Genitourinary,Both
N343,GU_592.21,Urethral syndrome,Genitourinary,Both
N483,GU_604.4,Priapism,Genitourinary,Male
N640,GU_612.1,Inflammatory disease of breast,Genitourinary,Female
N644,GU_612.5,Mastodynia,Genitourinary,Female
N700,GU_614.31,Acute inflammatory pelvic disease,Genitourinary,Female
N820,GU_623.8,Fistula involving female genital tract,Genitourinary,Female
N830,GU_619.21,Follicular cyst of ovary,Genitourinary,Female
N835,GU_619.1,Torsion of ovary,Genitourinary,Female
N910,GU_626.111,Amenorrhea,Genitourinary,Female
N950,GU_627.1,Postmenopausal bleeding,Genitourinary,Female
O000,PP_901.11,Abdominal pregnancy,Pregnancy,Female
O150,PP_908.13,Eclampsia,Pregnancy,Female
O265,CV_446,Hypotension,Cardiovascular,Both
O280,PP_937,Abnormal findings on antenatal screening of mother,Pregnancy,Female
O320,PP_940,Malposition and malpresentation of fetus,Pregnancy,Female
O431,PP_907.6,Malformation of placenta*,Pregnancy,Female
O601,PP_903.1,Preterm labor with preterm delivery,Pregnancy,Female
O624,PP_941.3,"Hypertonic, incoordinate, and prolonged uterine contractions",Pregnancy,Female
O630,PP_941.4,Long labor,Pregnancy,Female
O690,PP_947.1,Prolapse of cord complicating labor and delivery,Pregnancy,Female
O694,PP_947.3,Labor and delivery complicated by vasa previa,Pregnancy,Female
O695,PP_947.5,Vascular lesions of cord complicating labor and delivery,Pregnancy,Female
O711,PP_945.2,Rupture of uterus during labor,Pregnancy,Female
O751,PP_949.2,Hypotension syndrome or shock during or following labor and delivery,Pregnancy,Female
O880,PP_913,Obstetrical embolism,Pregnancy,Female
O905,EM_200.4,Thyroiditis,Endocrine/Metab,Both
O990,BI_164.6,Anemia secondary to chronic diseases and conditions,Blood/Immune,Both
P010,NB_876,Newborn affected by maternal complications of pregnancy,Neonatal,Both
P030,NB_878,Newborn affected by other complications of labor and delivery,Neonatal,Both
P050,NB_850.1,Newborn light or small for gestational age,Neonatal,Both
P072,NB_885.1,Extremely preterm (<= 28 weeks),Neonatal,Both
P200,NB_882,"Intrauterine hypoxia, birth asphyxia and fetal distress",Neonatal,Both
P282,NB_854.5,Cyanotic attacks of newborn,Neonatal,Both
P283,NB_854.9,Apnea of newborn,Neonatal,Both
P285,NB_854.6,Respiratory failure of newborn,Neonatal,Both
P292,NB_853.3,Neonatal hypertension*,Neonatal,Both
P540,GI_557.1,Hematemesis,Gastrointestinal,Both
P578,NB_859,Perinatal jaundice,Neonatal,Both
P610,NB_860.12,Transient neonatal thrombocytopenia,Neonatal,Both
P615,BI_170.1,Neutropenia,Blood/Immune,Both
P740,EM_256.31,Acidosis,Endocrine/Metab,Both
P741,EM_256.71,Dehydration,Endocrine/Metab,Both
P912,NB_870.4,Neonatal cerebral leukomalacia,Neonatal,Both
Q010,CM_750.24,Encephalocele,Congenital,Both
Q110,CM_751.111,Cystic eyeball,Congenital,Both
Q111,CM_751.113,Anophthalmos,Congenital,Both
Q130,CM_751.22,Congenital malformations of iris,Congenital,Both
Q131,CM_751.221,Absence of iris [Aniridia],Congenital,Both
Q133,CM_751.231,Congenital corneal opacity,Congenital,Both
Q135,CM_751.241,Blue sclera*,Congenital,Both
Q141,CM_751.32,Congenital malformation of retina,Congenital,Both
Q160,CM_752.12,Congenital absence of external ear [Anotia],Congenital,Both
Q162,CM_752.7,Congenital anomaly of middle ear,Congenital,Both
Q171,CM_752.2,Macrotia,Congenital,Both
Q186,CM_754.41,Macrocheilia,Congenital,Both
Q201,CM_763.16,Double outlet right ventricle,Congenital,Both
Q203,CM_763.12,Transposition of great vessels [TGA],Congenital,Both
Q204,CM_763.36,Common ventricle or double inlet ventricle,Congenital,Both
Q212,CM_763.33,Atrioventricular septal defect,Congenital,Both
Q226,CM_763.24,Hypoplastic right heart syndrome*,Congenital,Both
Q233,CM_763.234,Congenital mitral insufficiency,Congenital,Both
Q234,CM_763.7,Hypoplastic left heart syndrome,Congenital,Both
Q255,CM_763.151,Pulmonary artery coarctation and atresia,Congenital,Both
Q256,CM_763.152,Stenosis of pulmonary artery*,Congenital,Both
Q262,CM_763.6,Anomalous pulmonary venous return,Congenital,Both
Q271,CM_764.3,Congenital malformations of renal artery,Congenital,Both
Q302,CM_755.62,"Fissured, notched and cleft nose*",Congenital,Both
Q311,CM_762.12,Congenital subglottic stenosis*,Congenital,Both
Q395,CM_757.12,Congenital dilatation of esophagus*,Congenital,Both
Q410,CM_758.131,Atresia and stenosis of small intestines,Congenital,Both
Q420,CM_758.132,Atresia and stenosis  of large intestines,Congenital,Both
Q431,CM_758.12,Hirschsprung's disease,Congenital,Both
Q446,CM_758.22,Cystic liver disease,Congenital,Both
Q450,CM_758.3,Congenital anomalies of the pancreas,Congenital,Both
Q451,CM_758.31,Annular pancreas*,Congenital,Both
Q510,CM_760.131,Aplasia and hypoplasia of uterus,Congenital,Female
Q514,CM_760.134,Unicornate uterus,Congenital,Female
Q521,CM_760.152,Doubling of vagina/Vaginal septum,Congenital,Female
Q526,CM_760.18,Congenital malformation of clitoris*,Congenital,Female
Q550,CM_760.214,Aplasia/hypoplasia of testis*,Congenital,Male
Q611,CM_761.13,Cystic kidney disease,Congenital,Both
Q620,CM_761.211,Congenital hydronephrosis*,Congenital,Both
Q640,CM_760.227,Epispadias,Congenital,Male
Q643,CM_761.33,Congenital atresia and stenosis of urethra and bladder neck,Congenital,Both
Q644,CM_761.34,Abnormality of the urachus,Congenital,Both
Q667,CM_766.13,Congenital pes cavus,Congenital,Both
Q670,CM_755.1,Congenital facial asymmetry*,Congenital,Both
Q677,CM_768.12,Pectus carinatum,Congenital,Both
Q700,CM_767.12,Syndactyly,Congenital,Both
Q752,CM_755.5,Hypertelorism,Congenital,Both
Q762,CM_769.7,Congenital spondylolisthesis,Congenital,Both
Q776,GE_978.32,Chondroectodermal dysplasia [genetic],Genetic,Both
Q780,GE_978.33,Osteogenesis imperfecta [genetic],Genetic,Both
Q782,GE_978.34,Osteopetrosis [genetic],Genetic,Both
Q796,GE_978.22,Ehler's Danlos syndrome,Genetic,Both
Q804,GE_977.15,Harlequin fetus*,Genetic,Both
Q840,CM_771.2,Congenital anomalies of hair,Congenital,Both
Q850,GE_961.11,Neurofibromatosis,Genetic,Both
Q922,GE_960.15,Partial trisomy*,Genetic,Both
Q973,GE_960.34,"Karyotype 46, XY*",Genetic,Both
Q985,GE_960.35,"Karyotype 47, XYY*",Genetic,Both
R000,CV_417.2,Tachycardia,Cardiovascular,Both
R002,CV_417.1,Palpitations,Cardiovascular,Both
R041,RE_487.2,Hemorrhage from throat,Respiratory,Both
R066,RE_489.1,Hiccough,Respiratory,Both
R191,GI_529.4,Abnormal bowel sounds and visible peristalsis,Gastrointestinal,Both
R250,NS_324.32,Abnormal head movements*,Neurological,Both
R432,NS_352.2,Parageusia*,Neurological,Both
R452,MB_309.4,Demoralization and apathy,Mental,Both
R460,MB_283.1,Symptoms and signs involving appearance and behavior*,Mental,Both
R471,NS_356.1,Dysarthria,Neurological,Both
R491,RE_494.2,Aphonia,Respiratory,Both
R700,SS_820,Elevated erythrocyte sedimentation rate,Symptoms,Both
R701,SS_829.3,Abnormal plasma viscosity*,Symptoms,Both
R740,SS_823.1,Nonspecific elevation of levels of transaminase or lactic acid dehydrogenase [LDH],Symptoms,Both
R761,SS_826.1,Nonspecific reaction to test for tuberculosis,Symptoms,Both
R780,SS_827.1,Finding of alcohol in blood,Symptoms,Both
R821,SS_832.2,Myoglobinuria,Symptoms,Both
R931,CV_418.2,Abnormal findings on diagnostic imaging of heart and coronary circulation*,Cardiovascular,Both
R934,GU_598,Abnormal findings on radiological and other examination of genitourinary organs,Genitourinary,Both
S034,MS_741,Sprains and strains,Muscloskeletal,Both
S134,MS_741.72,Neck sprain,Muscloskeletal,Both
S220,MS_745.61,Fracture of vertebrae,Muscloskeletal,Both
S221,MS_745.6,Fracture of bones in thorax,Muscloskeletal,Both
S222,MS_745.6,Fracture of bones in thorax,Muscloskeletal,Both
S223,MS_745.6,Fracture of bones in thorax,Muscloskeletal,Both
S224,MS_745,Fractures,Muscloskeletal,Both
S228,MS_745.6,Fracture of bones in thorax,Muscloskeletal,Both
S229,MS_745.6,Fracture of bones in thorax,Muscloskeletal,Both
S320,MS_745.61,Fracture of vertebrae,Muscloskeletal,Both
S321,MS_745.61,Fracture of vertebrae,Muscloskeletal,Both
S322,MS_745.61,Fracture of vertebrae,Muscloskeletal,Both
S323,MS_745.2,Fracture of pelvis,Muscloskeletal,Both
S324,MS_745.2,Fracture of pelvis,Muscloskeletal,Both
S325,MS_745.2,Fracture of pelvis,Muscloskeletal,Both
S328,MS_745.2,Fracture of pelvis,Muscloskeletal,Both
S430,MS_740.2,Dislocation of shoulder,Muscloskeletal,Both
S434,MS_741.1,Sprains and strains of shoulder and upper arm,Muscloskeletal,Both
S720,MS_745.11,Fracture of femur,Muscloskeletal,Both
S721,MS_745.11,Fracture of femur,Muscloskeletal,Both
S722,MS_745.11,Fracture of femur,Muscloskeletal,Both
S723,MS_745.11,Fracture of femur,Muscloskeletal,Both
S724,MS_745.11,Fracture of femur,Muscloskeletal,Both
S727,MS_745.11,Fracture of femur,Muscloskeletal,Both
S728,MS_745.11,Fracture of femur,Muscloskeletal,Both
S729,MS_745.11,Fracture of femur,Muscloskeletal,Both
T860,SS_847.7,Bone marrow transplant,Symptoms,Both
T861,SS_847.2,Kidney transplant,Symptoms,Both
T863,SS_847.1,Heart transplant,Symptoms,Both
T864,SS_847.3,Liver transplant,Symptoms,Both
T883,GE_981.8,Malignant hyperthermia,Genetic,Both
U099,SS_807.3,Post COVID-19 condition*,Symptoms,Both
X670,MB_284.2,Suicide and self-inflicted harm,Mental,Both
Z723,MB_283.8,Problems related to lifestyle,Mental,Both
Z884,SS_840.62,Allergy to anesthetic agent,Symptoms,Both
"""
